"""Notebook 02 (optimizers), sections 6-8 and the results: batch size against learning rate,
whether larger batches overfit more, the source article's FAQ answered with the notebook's
numbers, and the test split's report and metrics.json.

The notebook trains the grid, says what "trains" means, and measures the train-validation
gap on fresh seeds; what is here bisects the largest rate that trains (`largest_rate`, one
seed at a time) and lays out the heatmap and the reports.
A change between batch sizes counts only where the seeds' ranges separate, and every other
verdict follows the course's one rule (`labkit.figures.optimizers.compare`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from labkit.figures.optimizers import Comparison, RunLike, compare, compare_accuracies, tally

# ---- section 6-7: batch size ------------------------------------------------------------


def grid_figure(
    grid_val: np.ndarray, batches: Sequence[int], lrs: Sequence[float], epochs: int
) -> Figure:
    """Heatmap of validation accuracy per batch size and learning rate (nan: diverged), with
    the diagonals where lr / batch size stays fixed (batches and rates 4x apart)."""
    fig = Figure(figsize=(7.5, 3.6), dpi=80, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.nan_to_num(grid_val, nan=0.0), cmap="viridis", vmin=0, vmax=1)
    for i, j in itertools.product(range(len(batches)), range(len(lrs))):
        value = grid_val[i, j]
        text = "diverged" if np.isnan(value) else f"{value:.3f}"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=9,
            color="white" if np.isnan(value) or value < 0.6 else "black",
        )
    for k in range(1 - len(batches), len(lrs)):  # the diagonals: lr / batch size constant
        ax.plot(
            [k - 0.5, k + len(batches) - 0.5],
            [-0.5, len(batches) - 0.5],
            ":",
            color="w",
            linewidth=1,
        )
    ax.set(
        xticks=range(len(lrs)),
        xticklabels=[f"{r:g}" for r in lrs],
        yticks=range(len(batches)),
        yticklabels=batches,
        xlim=(-0.5, len(lrs) - 0.5),
        ylim=(len(batches) - 0.5, -0.5),
        xlabel="learning rate",
        ylabel="batch size",
        title=f"SGD, {epochs} epochs: validation accuracy (dotted: lr / B fixed)",
    )
    ax.title.set_fontsize(10)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def limits_report(limits: Mapping[int, Sequence[float]], seeds: Sequence[int], step: float) -> str:
    """The largest rate that trained per batch size and seed (found to within a factor
    `step`), and from one batch size to the next: the median's growth, and whether the
    seeds' ranges separate (grew), overlap (a tie) or reversed."""
    batches = list(limits)
    lines = [
        f"largest learning rate that trained (to within {100 * (step - 1):.0f} %), seeds "
        + ", ".join(map(str, seeds))
        + ":"
    ]
    lines += [
        f"  B={b:<4d} "
        + " / ".join(f"{r:.3g}" for r in limits[b])
        + f"   median {np.median(limits[b]):.3g}"
        for b in batches
    ]
    for small, large in itertools.pairwise(batches):
        lo, hi = limits[small], limits[large]
        if min(hi) > max(lo):
            how = "grew, beyond the seeds' spread"
        elif max(hi) < min(lo):
            how = "shrank, beyond the seeds' spread"
        else:
            how = "overlap between seeds: a tie"
        growth = np.median(hi) / np.median(lo)
        lines.append(
            f"  B={small} -> {large} (the batch {large / small:g}x): the median limit "
            f"changed {growth:.2g}x; {how}"
        )
    return "\n".join(lines)


def largest_rate(
    trains: Callable[[float], bool],
    lo: float,
    hi: float,
    *,
    halvings: int = 3,
    floor: float = 1e-3,
    ceiling: float = 100.0,
) -> float:
    """The largest rate at which `trains(rate)` holds, bisected in log scale between `lo`
    (trains) and `hi` (fails): first the bracket moves by 4x steps if `trains` disagrees
    with it, then `halvings` halvings pin the rate to within (hi/lo)^(1/2^halvings). It
    assumes runs train below some rate and fail above it; nan when nothing from `floor` to
    `ceiling` trains."""
    while not trains(lo):
        lo, hi = lo / 4, lo
        if lo < floor:
            return math.nan
    while trains(hi) and hi < ceiling:
        lo, hi = hi, 4 * hi
    for _ in range(halvings):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if trains(mid) else (lo, mid)
    return lo


def diagonals_report(
    grid_val: np.ndarray, batches: Sequence[int], lrs: Sequence[float], n: int
) -> str:
    """The grid's full diagonals (lr / batch size fixed, batches and rates 4x apart): each
    cell's accuracy, and best minus worst against the noise of two accuracies on n."""
    lines = []
    for k in range(len(lrs) - len(batches) + 1):
        values = [grid_val[i, i + k] for i in range(len(batches))]
        cells = "  ".join(
            f"B={b} lr={lrs[i + k]:g}: " + ("diverged" if np.isnan(v) else f"{v:.3f}")
            for i, (b, v) in enumerate(zip(batches, values, strict=True))
        )
        ok = [v for v in values if not np.isnan(v)]
        spread = compare_accuracies(max(ok), min(ok), n).text() if ok else "-"
        lines.append(f"diagonal {k + 1}: {cells}   best minus worst {spread}")
    return "\n".join(lines)


def sample_std(values: Sequence[float] | np.ndarray) -> float:
    """The sample standard deviation (ddof=1) of the finite values; nan with fewer than 2."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def gap_report(
    best_lr: Mapping[int, float],
    train_acc: Mapping[int, Sequence[float]],
    val_acc: Mapping[int, Sequence[float]],
    shared: tuple[float, Sequence[float], Sequence[float]],
    n: int,
) -> tuple[str, Comparison]:
    """Per batch size at its best rate: mean training and validation accuracy over the seeds
    and the train-validation gap (mean ± sample std, ddof=1); at one shared rate (`shared`:
    the rate, and the training and validation accuracy per batch size) the same one-seed
    numbers. Then the
    verdict: the largest batch's mean gap against the smallest's, a tie unless the
    difference exceeds 2·√(std_a² + std_b²) (σ at least one image of n; each std is one
    seed's spread, so for means of 3 seeds this is conservative). Returns the text and that
    comparison ("better" there means the gap grew)."""
    batches = list(best_lr)
    rate, shared_train, shared_val = shared
    gap = {b: np.subtract(train_acc[b], val_acc[b]) for b in batches}
    lines = [
        f"{'batch':>5s} {'best lr':>8s} {'train acc':>10s} {'val acc':>8s} "
        f"{'gap (mean ± std)':>17s}   | at lr {rate:g}: {'train':>6s} {'val':>6s} {'gap':>7s}"
    ]
    for i, b in enumerate(batches):
        lines.append(
            f"{b:5d} {best_lr[b]:8g} {np.nanmean(train_acc[b]):10.3f} "
            f"{np.nanmean(val_acc[b]):8.3f} {np.nanmean(gap[b]):+9.3f} ± "
            f"{sample_std(gap[b]):.3f}   |{shared_train[i]:18.3f} {shared_val[i]:6.3f} "
            f"{shared_train[i] - shared_val[i]:+7.3f}"
        )
    t0, t1 = shared_train[0], shared_train[-1]
    fits = "less" if t1 < t0 else "more" if t1 > t0 else "as much"
    lines.append(
        f"at the shared lr {rate:g}, B={batches[-1]} fits {fits} of the training set than "
        f"B={batches[0]} in the same epochs (training accuracy {t1:.3f} vs {t0:.3f})"
    )
    small, large = gap[batches[0]], gap[batches[-1]]
    sigma = max(math.hypot(sample_std(small), sample_std(large)), 1 / n)
    # (split evenly between the two below, so that compare combines them back into `sigma`)
    change = compare(
        float(np.nanmean(large)),
        sigma / math.sqrt(2),
        float(np.nanmean(small)),
        sigma / math.sqrt(2),
    )
    said = {
        "better": "the gap grew with the batch size",
        "worse": "the gap shrank as the batch grew",
        "tie": "no change beyond the seed-to-seed noise (a tie)",
        "both diverged": "every run diverged",
    }[change.verdict]
    lines.append(f"gap at B={batches[-1]} minus gap at B={batches[0]}: {change.band()}: {said}")
    return "\n".join(lines), change


# ---- section 8: the source article's FAQ, and metrics.json ---------------------------------


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
