"""Notebook 02 (optimizers), section 8 and the results: the source article's FAQ answered
with the notebook's own numbers, the test split's report, and metrics.json.

Every answer is computed from the numbers given, with its noise, and every verdict follows
the course's one rule (`labkit.figures.optimizers.compare`): beyond the noise only outside
±2√(σa² + σb²), otherwise a tie. A number that does not exist (a run that diverged) is left
out of metrics.json rather than written as NaN.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from labkit.figures.optimizers import Comparison, RunLike, compare, compare_accuracies, tally

# ---- section 8: the source article's FAQ -------------------------------------------------


def faq_table(
    *,
    val_accuracy: Mapping[str, float],
    rates: Mapping[str, float],
    n: int,
    sgd_row: np.ndarray,
    grid_lrs: Sequence[float],
    finder_lr: float,
    finder_accuracy: float,
    chosen: str,
    suggestions: Mapping[str, Comparison],
    settle: Comparison,
    largest: Mapping[int, float],
    epoch_ms: Mapping[int, float],
    gaps: Mapping[int, tuple[float, float]],
    gap_change: Comparison,
) -> str:
    """The source article's FAQ as a Markdown table, every answer computed from the numbers
    given: the seven's validation accuracies at their rates (nan: diverged), SGD's accuracy
    across the grid's rates `grid_lrs` at the smallest batch, the finder's suggestion and how
    it trained, the suggestions' verdicts, cosine vs constant at 10x the rate, the largest
    rate that trained per batch size, the epoch times, and the gaps (mean, sample std) with
    their verdict."""

    def shown(p: float) -> str:
        return "diverged" if math.isnan(p) else f"validation accuracy {p:.3f}"

    trained = [name for name, p in val_accuracy.items() if not math.isnan(p)]
    ok = sgd_row[~np.isnan(sgd_row)]
    rate_effect = compare_accuracies(float(ok.max()), float(ok.min()), n)
    best_rate = grid_lrs[int(np.nanargmax(sgd_row))] if len(ok) else math.nan
    worst_rate = grid_lrs[int(np.nanargmin(sgd_row))] if len(ok) else math.nan
    if trained:
        best = max(trained, key=val_accuracy.get)
        worst = min(trained, key=val_accuracy.get)
        choice = compare_accuracies(val_accuracy[best], val_accuracy[worst], n)
        seven = (
            f"at a sensible rate each, {len(trained)} of {len(val_accuracy)} trained; best minus "
            f"worst ({best} minus {worst}): {choice.band()}"
            + (" (a tie)" if choice.verdict == "tie" else " (apart, beyond the noise)")
        )
        rate_vs_choice = compare(rate_effect.diff, rate_effect.noise, choice.diff, choice.noise)
        verdict = rate_vs_choice.verdict
    else:
        seven, verdict = "at these rates none of the seven trained", "better"
    if len(trained) < len(val_accuracy):
        seven += "; diverged: " + ", ".join(
            f"{name} (lr {rates[name]:g})" for name in val_accuracy if name not in trained
        )
    mattered = {
        "better": "the rate mattered more than the choice of optimizer",
        "tie": "the rate's effect and the choice's could not be told apart (a tie)",
        "worse": "here the choice of optimizer mattered more than the rate",
    }[verdict]
    batches = list(largest)
    growth = " and ".join(
        f"{largest[b2] / largest[b1]:.2g}x" for b1, b2 in itertools.pairwise(batches)
    )
    per_b = " / ".join(map(str, batches))
    rows = [
        (
            "Which optimizer?",
            '"depends on the model and the task"',
            f"{seven}; one optimizer (SGD, batch {batches[0]}) from its worst rate that "
            f"trained, {worst_rate:g}, to its best, {best_rate:g} "
            f"({best_rate / worst_rate:.3g}× apart): {rate_effect.band()}"
            + (", or divergence" if np.isnan(sgd_row).any() else ""),
            f"{mattered}: start with Adam(W) (here at {rates['adam']:g}: "
            f"{shown(val_accuracy['adam'])}), and tune the rate before switching optimizer.",
        ),
        (
            "Which learning rate?",
            '"too small is slow, too large unstable"',
            f"the finder suggested {finder_lr:.2g} for {chosen} in 100 batches; training at it: "
            f"{shown(finder_accuracy)}; over the seven, compared with section 3's rate, the "
            f"suggestion ended {tally(suggestions)} (a tie: inside ±2σ on {n} images)",
            "run the finder, start at its suggestion, refine on validation; at 10× the rate, "
            f"cosine minus constant (validation loss) was {settle.text(1.0, '', 3)}.",
        ),
        (
            "Which batch size?",
            '"larger is faster but may overfit"',
            "epochs took "
            + " / ".join(f"{epoch_ms[b]:.0f}" if b in epoch_ms else "-" for b in batches)
            + f" ms at B = {per_b}; the largest rate that trained (median of 3 seeds): "
            + " / ".join(f"{largest[b]:.2g}" for b in batches)
            + f", growing {growth} per 4× batch",
            "as large as runs fast on your hardware; scale the rate with B while it is far "
            "below the limit, and by less near it, where the limit grows more slowly than B.",
        ),
        (
            "Do larger batches overfit more?",
            "yes",
            "train–validation gap at the same 5 epochs, each batch size at its best rate: "
            + " / ".join(f"{100 * m:+.1f} ± {100 * s:.1f}" for m, s in gaps.values())
            + f" points at B = {per_b} (mean ± sample std over 3 fresh seeds)",
            ("yes, here" if gap_change.verdict == "better" else "not here")
            + f": the gap at B = {batches[-1]} minus B = {batches[0]} was "
            f"{gap_change.band()}, "
            + {"better": "it grew", "worse": "it shrank", "tie": "a tie"}.get(
                gap_change.verdict, gap_change.verdict
            )
            + ".",
        ),
    ]
    header = ("question", "the source article says", "measured here", "so")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def batch_metrics(
    best_lr: Mapping[int, float], largest: Mapping[int, float], gap: Mapping[int, float]
) -> dict[str, float]:
    """Per batch size, metrics.json's `grid_best_lr_batch_*` (the grid's best rate),
    `largest_lr_batch_*` (the median over seeds of the largest rate that trained) and
    `gap_batch_*` (the mean train-validation gap)."""
    return {
        **{f"grid_best_lr_batch_{b}": rate for b, rate in best_lr.items()},
        **{f"largest_lr_batch_{b}": rate for b, rate in largest.items()},
        **{f"gap_batch_{b}": value for b, value in gap.items()},
    }


# ---- results: the test split, once ---------------------------------------------------------


def final_test_report(
    chosen: str,
    chosen_test: Mapping[str, float],
    test_accuracy: Mapping[str, float],
    runs: Mapping[str, RunLike],
) -> str:
    """The chosen optimizer's test accuracy and macro F1, then every optimizer's test
    accuracy; a run that diverged is marked (its numbers are from the weights it ended with)."""
    note = " (diverged: the weights it ended with, see above)" if runs[chosen].diverged else ""
    each = ", ".join(
        f"{name} {a:.3f}" + (" (diverged)" if runs[name].diverged else "")
        for name, a in test_accuracy.items()
    )
    return (
        f"{chosen}: test accuracy {chosen_test['accuracy']:.3f}, macro F1 "
        f"{chosen_test['f1_macro']:.3f}{note}\ntest accuracy per optimizer: {each}"
    )


def finite(metrics: Mapping[str, object]) -> dict[str, object]:
    """metrics.json's entries without the numbers that do not exist: a float that is nan (e.g.
    the accuracy of a finder's run that diverged) is left out rather than written as NaN."""
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}


def optimizer_metrics(
    test_accuracy: Mapping[str, float],
    val_accuracy: Mapping[str, float],
    rates: Mapping[str, float],
    runs: Mapping[str, RunLike],
) -> dict[str, float | bool]:
    """Per optimizer, metrics.json's `test_accuracy_*`, `val_accuracy_*` (the same weights as
    the test), `lr_*` and `diverged_*`."""
    return {
        **{f"test_accuracy_{name}": v for name, v in test_accuracy.items()},
        **{f"val_accuracy_{name}": v for name, v in val_accuracy.items()},
        **{f"lr_{name}": rate for name, rate in rates.items()},
        **{f"diverged_{name}": bool(run.diverged) for name, run in runs.items()},
    }
