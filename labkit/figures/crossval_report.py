"""Notebook 04, sections 7 and 8: two recipes cross-validated on the same folds, the choice
between them, and the refit model.

Both recipes see the same folds, so they are compared fold by fold
(`labkit.crossval.paired_difference`); the choice follows the one-standard-error rule on
those paired differences: the more complex recipe only when it leads by more than one
standard error, else the simpler one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from labkit.crossval import CrossValidation, PairedDifference
from labkit.data import Data
from labkit.figures.fitting import Run, diverged_note, mark


def same_digit_spread(mine: Sequence[np.ndarray], y: np.ndarray, folds: Sequence[Data]) -> bool:
    """Whether folds given as row indices into labels `y` (`mine`) spread every digit over the
    folds as `folds` (labkit's) do: each digit's validation rows per fold, sorted, are equal.
    Fold order and which rows go where may differ."""
    y = np.asarray(y)
    counts = np.sort([np.bincount(y[f], minlength=10) for f in mine], axis=0)
    theirs = np.sort([np.bincount(f.val.y.numpy(), minlength=10) for f in folds], axis=0)
    return bool(np.array_equal(counts, theirs))  # False when the fold counts differ, too


def cross_validation_report(cvs: Mapping[str, CrossValidation], paired: PairedDifference) -> str:
    """Per-fold table of each recipe, the paired differences and the one-SE verdict."""
    k = len(next(iter(cvs.values())).accuracy)
    lines = [f"{'':12s}{'accuracy per fold':{7 * k}s}   accuracy       macro-F1    (mean ± std)"]
    for name, cv in cvs.items():
        lines.append(
            f"{name:12s}"
            + "".join(f"{a:7.3f}" for a in cv.accuracy)
            + f"   {cv.accuracy_mean:.3f} ± {cv.accuracy_std:.3f}"
            f"   {cv.f1_mean:.3f} ± {cv.f1_std:.3f}"
        )
    names = list(cvs)
    lines.append(
        f"{'difference':12s}"
        + "".join(f"{d:+7.3f}" for d in paired.differences)
        + f"   {paired.mean:+.3f} ± {paired.standard_error:.3f} (mean ± standard error, "
        f"{names[1]} − {names[0]})"
    )
    gap = max(
        abs(a - f) for cv in cvs.values() for a, f in zip(cv.accuracy, cv.f1_macro, strict=True)
    )
    lines.append(f"macro-F1 and accuracy differ by at most {gap:.3f} in any fold")
    return "\n".join(lines)


def choice_report(paired: PairedDifference | None, a: str, b: str) -> tuple[str, str]:
    """The one-standard-error rule on the paired differences `b - a`: choose `b` only when it
    leads by more than one standard error, else `a` (the simpler). With no paired differences
    (a recipe diverged in cross-validation), `a`. Returns (chosen, sentence)."""
    if paired is None:
        return a, f"a recipe diverged in cross-validation: nothing to compare, so: {a}"
    m, se = paired.mean, paired.standard_error
    if paired.beyond_one_standard_error:
        verdict, chosen = f"{b} leads by more than one standard error, so: {b}", b
    elif m < -se:
        verdict, chosen = f"{a} leads by more than one standard error, so: {a}", a
    else:
        verdict, chosen = f"within one standard error, a tie, so the simpler recipe: {a}", a
    return (
        chosen,
        f"{b} − {a}, fold by fold: {m:+.3f} ± {se:.3f} (mean ± standard error): {verdict}",
    )


def refit_report(chosen: str, final: Run, cv: CrossValidation | None) -> str:
    """The chosen recipe refit on every training and validation row: its training accuracy
    and the cross-validated estimate it comes with (none when a fold diverged)."""
    estimate = (
        f"{cv.accuracy_mean:.3f} ± {cv.accuracy_std:.3f}" if cv is not None else "none (diverged)"
    )
    return (
        f"{chosen}, refit on all {final.rows} training and validation rows: train accuracy "
        f"{final.train_acc:.3f}{mark(final).strip()}; cross-validated estimate {estimate}"
        + diverged_note([final])
    )


def cross_validation_metrics(
    cvs: Mapping[str, CrossValidation | None], chosen: str, paired: PairedDifference | None
) -> dict[str, float]:
    """metrics.json's numbers of sections 7 and 8: each recipe's mean accuracy
    (`cv_accuracy_mean_<name>`), the chosen recipe's mean and std of accuracy and macro-F1,
    and the paired difference's mean and standard error; a recipe with a diverged fold has
    none."""
    metrics = {
        f"cv_accuracy_mean_{name}": cv.accuracy_mean for name, cv in cvs.items() if cv is not None
    }
    cv = cvs[chosen]
    if cv is not None:
        metrics.update(cv_accuracy_mean=cv.accuracy_mean, cv_accuracy_std=cv.accuracy_std,
                       cv_f1_mean=cv.f1_mean, cv_f1_std=cv.f1_std)  # fmt: skip
    if paired is not None:
        metrics.update(cv_difference_mean=paired.mean, cv_difference_se=paired.standard_error)
    return metrics


def cross_validation_figure(cvs: Mapping[str, CrossValidation]) -> Figure:
    """Per-fold accuracy of each recipe, its mean and ±1 std band; the folds are shared, so
    the points of one fold sit side by side, joined by a line when there are two recipes."""
    fig = Figure(figsize=(7, 2.6), layout="constrained")
    ax = fig.subplots()
    k = len(next(iter(cvs.values())).accuracy)
    folds = np.arange(1, k + 1)
    for i, (name, cv) in enumerate(cvs.items()):
        look = {"color": f"C{i}"}
        ax.scatter(folds + 0.08 * (2 * i - 1), cv.accuracy, **look, zorder=2, label=name)
        ax.axhline(cv.accuracy_mean, **look, linewidth=1, label=f"{name}: mean")
        ax.axhspan(
            cv.accuracy_mean - cv.accuracy_std,
            cv.accuracy_mean + cv.accuracy_std,
            **look,
            alpha=0.12,
            label=f"{name}: ± 1 std",
        )
    if len(cvs) == 2:  # join each fold's two scores: the comparison is fold by fold
        a, b = (cv.accuracy for cv in cvs.values())
        for x, ya, yb in zip(folds, a, b, strict=True):
            ax.plot([x - 0.08, x + 0.08], [ya, yb], color="0.5", linewidth=1, zorder=1)
    ax.set(xlabel="fold", ylabel="accuracy", title=f"{k}-fold cross-validation")
    ax.set_xticks(folds)
    fig.legend(fontsize=8, loc="outside right upper")
    return fig
