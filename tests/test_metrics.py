import numpy as np
import torch
from sklearn import metrics as skm

from labkit.metrics import classification_metrics, confusion_matrix, per_class_report


def test_metrics_match_hand_counts():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 1, 1]
    m = classification_metrics(torch.tensor(y_true), np.array(y_pred))
    # class 0: P=1, R=2/3; class 1: P=2/4, R=1; class 2: never predicted -> P=0, R=0
    assert m["accuracy"] == 4 / 6
    assert np.isclose(m["precision_macro"], (1 + 0.5 + 0) / 3)
    assert np.isclose(m["recall_macro"], (2 / 3 + 1 + 0) / 3)
    assert np.isclose(m["f1_macro"], skm.f1_score(y_true, y_pred, average="macro"))


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], classes=4)
    assert cm.shape == (4, 4)
    assert cm[1, 2] == 1 and cm[1, 1] == 1 and cm.sum() == 4 and cm[3].sum() == 0


def test_per_class_report_lists_each_class():
    text = per_class_report([0, 1, 1], [0, 1, 0])
    assert "macro avg" in text and "0.667" in text


def test_classes_counts_a_class_that_never_occurs_in_the_macro_averages():
    y_true, y_pred = [0, 0, 1, 1], [0, 1, 1, 1]
    seen = classification_metrics(y_true, y_pred)
    every = classification_metrics(y_true, y_pred, classes=3)  # class 2 appears nowhere
    assert np.isclose(every["f1_macro"], seen["f1_macro"] * 2 / 3)
    assert every["accuracy"] == seen["accuracy"] == 0.75
