"""Notebook 02 (optimizers), sections 6-7: batch size against learning rate, and whether
larger batches overfit more.

The notebook trains the grid, says what "trains" means, and trains the fresh seeds of the
train-validation gap; what is here tabulates those runs, bisects the largest rate that
trains (`largest_rate`, one seed at a time, reusing the grid's own runs) and lays out the
heatmap and the reports. A change between batch sizes counts only where the seeds' ranges
separate, and every other verdict follows the course's one rule
(`labkit.figures.optimizers.compare`). The FAQ of section 8 and the results are in
`labkit.figures.optim_faq`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from labkit.data import Split
from labkit.figures.optimizers import Comparison, Run, compare, compare_accuracies, final
from labkit.progress import progress
from labkit.train import evaluate

TRAINS = 0.5  # a run trains when it ends above this validation accuracy (chance is 0.1)


def train_accuracy(run: Run, train: Split) -> float:
    """The accuracy of a run's weights on the training split; nan for a run that diverged."""
    return math.nan if run.diverged else evaluate(run.model, train)["accuracy"]


class Grid(NamedTuple):
    """The batch-size by learning-rate grid's numbers, one row per batch size."""

    val: np.ndarray  # (batches, lrs) final validation accuracy; nan: the run diverged
    train: np.ndarray  # (batches, lrs) training accuracy of the same weights; nan: diverged
    epoch_seconds: dict[
        int, list[float]
    ]  # batch size -> seconds per epoch of its runs that trained


def grid_tables(
    runs: Mapping[tuple[int, float], Run],
    batches: Sequence[int],
    lrs: Sequence[float],
    train: Split,
) -> Grid:
    """The grid's runs, keyed (batch size, rate), as arrays: their last validation accuracy,
    their training accuracy (nan where a run diverged) and their epoch times."""
    val = np.full((len(batches), len(lrs)), np.nan)
    acc = np.full_like(val, np.nan)
    seconds: dict[int, list[float]] = {}
    for (i, b), (j, rate) in itertools.product(enumerate(batches), enumerate(lrs)):
        run = runs[b, rate]
        if not run.diverged:
            val[i, j] = run.history.val_accuracy[-1]
            acc[i, j] = train_accuracy(run, train)
            seconds.setdefault(b, []).extend(run.history.seconds)
    return Grid(val, acc, seconds)


def broke(grid_val: np.ndarray, lrs: Sequence[float], i: int, j: int) -> bool:
    """Batch size i at rate j failed from too large a rate: the rate is above that batch
    size's best one, and the run diverged (nan) or collapsed below `TRAINS`."""
    too_large = lrs[j] > lrs[int(np.nanargmax(grid_val[i]))]
    return too_large and bool(np.isnan(grid_val[i, j]) or grid_val[i, j] < TRAINS)


def bisect_limits(
    trains: Callable[[int, int, float], bool],
    grid_val: np.ndarray,
    batches: Sequence[int],
    lrs: Sequence[float],
    seeds: Sequence[int],
    *,
    grid_seed: int,
) -> dict[int, list[float]]:
    """Per batch size, the largest rate at which `trains(batch_size, seed, rate)` holds, for
    each seed: `largest_rate` between the largest grid rate that trained and 4x it (the grid's
    spacing), so three halvings pin it to within 4^(1/8). The grid's own runs (seed
    `grid_seed`) count as tried, and no (batch size, seed, rate) is trained twice."""
    tried = {
        (b, grid_seed, rate): bool(grid_val[i, j] >= TRAINS)  # nan (diverged) compares False
        for (i, b), (j, rate) in itertools.product(enumerate(batches), enumerate(lrs))
    }

    def once(b: int, s: int, rate: float) -> bool:
        if (b, s, rate) not in tried:
            tried[b, s, rate] = trains(b, s, rate)
        return tried[b, s, rate]

    limits = {}
    for i, b in enumerate(progress(batches, desc="limits")):
        ok = [r for j, r in enumerate(lrs) if grid_val[i, j] >= TRAINS]
        lo = max(ok, default=lrs[0])
        limits[b] = [largest_rate(partial(once, b, s), lo, 4 * lo) for s in seeds]
    return limits


def seed_accuracies(
    runs: Mapping[tuple[int, int], Run], train: Split
) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """Runs keyed (batch size, seed) as per-batch-size lists over the seeds: their training
    accuracy and their last validation accuracy (nan where a run diverged)."""
    train_acc: dict[int, list[float]] = {}
    val_acc: dict[int, list[float]] = {}
    for (b, _), run in runs.items():
        train_acc.setdefault(b, []).append(train_accuracy(run, train))
        val_acc.setdefault(b, []).append(final(run))
    return train_acc, val_acc


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
