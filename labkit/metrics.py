"""Classification metrics, computed by scikit-learn (the reference implementation).

Accuracy alone hides which classes fail. Macro averages weigh every class equally, so a
rare class that is always missed pulls them down even when accuracy looks fine.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch


def _numpy(a: np.ndarray | torch.Tensor | list) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _sklearn() -> ModuleType:
    from sklearn import metrics  # imported on first use: it takes about a second

    return metrics


def classification_metrics(y_true, y_pred, *, classes: int | None = None) -> dict[str, float]:
    """Accuracy and macro-averaged precision, recall and F1 (0 where a class is never predicted).

    With `classes`, every class 0..classes-1 counts in the macro averages, even one absent
    from both `y_true` and `y_pred` (scikit-learn otherwise averages over the classes seen).
    """
    skm = _sklearn()
    y_true, y_pred = _numpy(y_true), _numpy(y_pred)
    labels = None if classes is None else np.arange(classes)
    p, r, f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision_macro": float(p),
        "recall_macro": float(r),
        "f1_macro": float(f1),
    }


def per_class_report(y_true, y_pred, *, digits: int = 3) -> str:
    """scikit-learn's per-class precision/recall/F1/support table as text."""
    return _sklearn().classification_report(
        _numpy(y_true), _numpy(y_pred), digits=digits, zero_division=0
    )


def confusion_matrix(y_true, y_pred, *, classes: int | None = None) -> np.ndarray:
    """Counts (classes, classes): row = true class, column = predicted class."""
    labels = None if classes is None else np.arange(classes)
    return _sklearn().confusion_matrix(_numpy(y_true), _numpy(y_pred), labels=labels)
