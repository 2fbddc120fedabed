"""Notebook 04's cross-validation report, the one-standard-error choice, the refit line and
metrics.json's cross-validation numbers."""

import numpy as np
from matplotlib.collections import PathCollection

from labkit.crossval import CrossValidation, paired_difference
from labkit.data import kfold_splits
from labkit.figures import crossval_report as fx
from labkit.figures.fitting import Run
from labkit.train import History, TrainConfig

BASE = CrossValidation([0.962, 0.969, 0.976, 0.990, 0.983], [0.96] * 5)
REG = CrossValidation([0.962, 0.969, 0.976, 0.993, 0.976], [0.96] * 5)


def test_cross_validation_report_pairs_the_folds():
    cvs = {"baseline": BASE, "regularized": REG}
    text = fx.cross_validation_report(cvs, paired_difference(BASE, REG))
    lines = text.splitlines()
    assert lines[3].startswith("difference   +0.000 +0.000 +0.000 +0.003 -0.007")
    assert "-0.001 ± 0.002 (mean ± standard error, regularized − baseline)" in lines[3]
    assert lines[4] == "macro-F1 and accuracy differ by at most 0.033 in any fold"


def test_choice_report_applies_the_one_standard_error_rule_both_ways():
    base = CrossValidation([0.90, 0.95, 0.80, 0.99], [0.9] * 4)
    ahead = CrossValidation([0.92, 0.96, 0.82, 0.99], [0.9] * 4)  # +0.02 +0.01 +0.02 0
    behind = CrossValidation([0.88, 0.94, 0.78, 0.99], [0.9] * 4)
    level = CrossValidation([0.91, 0.94, 0.80, 0.99], [0.9] * 4)  # +0.01 -0.01 0 0
    chosen, text = fx.choice_report(paired_difference(base, ahead), "baseline", "regularized")
    assert chosen == "regularized" and text.endswith(
        "more than one standard error, so: regularized"
    )
    chosen, text = fx.choice_report(paired_difference(base, behind), "baseline", "regularized")
    assert chosen == "baseline" and "baseline leads by more than one standard error" in text
    chosen, text = fx.choice_report(paired_difference(base, level), "baseline", "regularized")
    assert chosen == "baseline" and "+0.000 ± 0.004" in text and "a tie" in text
    chosen, text = fx.choice_report(None, "baseline", "regularized")  # a recipe diverged
    assert chosen == "baseline" and text.endswith("nothing to compare, so: baseline")


def test_refit_report_and_the_metrics():
    final = Run(None, History(), TrainConfig(), 1437, 0.999, float("nan"))
    text = fx.refit_report("baseline", final, BASE)
    assert text == ("baseline, refit on all 1437 training and validation rows: train accuracy "
                    "0.999; cross-validated estimate 0.976 ± 0.011")  # fmt: skip
    final.diverged = True
    text = fx.refit_report("baseline", final, None)
    assert "0.999*; cross-validated estimate none (diverged)" in text and "1 of 1 runs" in text
    paired = paired_difference(BASE, REG)
    metrics = fx.cross_validation_metrics({"baseline": BASE, "regularized": REG}, "baseline",
                                          paired)  # fmt: skip
    assert metrics["cv_accuracy_mean_regularized"] == REG.accuracy_mean
    assert metrics["cv_accuracy_mean"] == BASE.accuracy_mean and metrics["cv_f1_std"] == 0
    assert metrics["cv_difference_mean"] == paired.mean
    gone = fx.cross_validation_metrics({"baseline": BASE, "regularized": None}, "regularized",
                                       None)  # fmt: skip
    assert gone == {"cv_accuracy_mean_baseline": BASE.accuracy_mean}


def test_the_figure_joins_each_folds_pair():
    cvs = {"a": CrossValidation([0.9, 0.95, 0.97], [0.9] * 3),
           "b": CrossValidation([0.91, 0.94, 0.98], [0.9] * 3)}  # fmt: skip
    ax = fx.cross_validation_figure(cvs).axes[0]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == 2 and all(len(p.get_offsets()) == 3 for p in points)
    assert ax.get_title() == "3-fold cross-validation"
    assert len(ax.lines) == 2 + 3  # two means, and one segment joining each fold's pair


def test_same_digit_spread_compares_each_digits_rows_per_fold():
    y = np.repeat(np.arange(10), 7)  # 7 rows per digit: 2, 2, 2 and 1 over 4 folds
    folds = kfold_splits(np.zeros((len(y), 3)), y, k_folds=4, seed=0)
    mine = [np.flatnonzero(np.arange(len(y)) % 7 % 4 == i) for i in range(4)]  # by position
    assert fx.same_digit_spread(mine, y, folds)
    assert fx.same_digit_spread(mine[::-1], y, folds)  # the folds' order does not matter
    lopsided = [np.flatnonzero(np.arange(len(y)) % 7 < 4), *(np.array([], int),) * 3]
    assert not fx.same_digit_spread(lopsided, y, folds)
    assert not fx.same_digit_spread(mine[:3], y, folds)  # a fold missing
