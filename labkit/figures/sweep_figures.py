"""Notebook 05's figures: a sweep's table as heatmaps and curves, seed spread, search.

Every function takes the sweep's results table (a DataFrame with the columns `optimizer`,
`batch_size`, `lr`, `status`, `diverged` and the metrics), and returns a `Figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

_GREY_BAD = colormaps["viridis"].with_extremes(bad="0.85")  # no score: grey


def value_grid(
    rows: Any, optimizer: str, metric: str, batch_sizes: Sequence[int], lrs: Sequence[float]
) -> np.ndarray:
    """(batch sizes, learning rates) array of `metric` for one optimizer; NaN where none."""
    found = {(r.batch_size, r.lr): r[metric] for _, r in rows.iterrows()
             if r.optimizer == optimizer and r.status == "ok" and metric in r}  # fmt: skip
    return np.array([[found.get((b, lr), np.nan) for lr in lrs] for b in batch_sizes], float)


def sweep_heatmaps(
    rows: Any,
    metrics: Sequence[str],
    optimizers: Sequence[str],
    batch_sizes: Sequence[int],
    lrs: Sequence[float],
    chosen: Any = None,
) -> Figure:
    """One heatmap per metric (rows) and optimizer (columns); `chosen` framed in red.

    A cell is grey and labelled "failed" or "diverged" when the run has no usable score.
    """
    fig = Figure(figsize=(1.2 + 1.1 * len(lrs) * len(optimizers), 0.8 + 1.6 * len(metrics)),
                 layout="constrained")  # fmt: skip
    axes = fig.subplots(len(metrics), len(optimizers), squeeze=False)
    for i, metric in enumerate(metrics):
        for j, optimizer in enumerate(optimizers):
            ax = axes[i, j]
            values = value_grid(rows, optimizer, metric, batch_sizes, lrs)
            diverged = value_grid(rows, optimizer, "diverged", batch_sizes, lrs) == 1
            values[diverged] = np.nan  # a NaN loss: no real score
            image = ax.imshow(np.ma.masked_invalid(values), vmin=0, vmax=1, cmap=_GREY_BAD)
            for (b, k), v in np.ndenumerate(values):
                label = "diverged" if diverged[b, k] else "failed" if np.isnan(v) else f"{v:.2f}"
                dark = np.isnan(v) or v > 0.6
                ax.text(k, b, label, ha="center", va="center", color="black" if dark else "white")
            if chosen is not None and optimizer == chosen.optimizer:
                b, k = list(batch_sizes).index(chosen.batch_size), list(lrs).index(chosen.lr)
                ax.add_patch(Rectangle((k - 0.5, b - 0.5), 1, 1, fill=False, edgecolor="red",
                                       linewidth=3))  # fmt: skip
            ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
            ax.set_yticks(range(len(batch_sizes)), [str(b) for b in batch_sizes])
            ax.set_title(f"{optimizer}: {metric.replace('_', ' ')}", fontsize=10)
            ax.set_xlabel("learning rate")
            if j == 0:
                ax.set_ylabel("batch size")
    fig.colorbar(image, ax=axes, shrink=0.8, label="accuracy")
    return fig


def lr_curves(
    rows: Any, optimizers: Sequence[str], batch_sizes: Sequence[int], lrs: Sequence[float]
) -> Figure:
    """Validation (solid) and test (dashed) accuracy against the learning rate, log scale;
    one colour per batch size, one panel per optimizer, chance (0.1) dotted."""
    fig = Figure(figsize=(1.5 + 3.2 * len(optimizers), 3.0), layout="constrained")
    axes = fig.subplots(1, len(optimizers), sharey=True, squeeze=False)[0]
    usable = [k for k, lr in enumerate(lrs) if lr > 0]  # a log axis has no place for 0 or less
    x = [lrs[k] for k in usable]
    for ax, optimizer in zip(axes, optimizers, strict=True):
        val, test = (value_grid(rows, optimizer, m, batch_sizes, lrs)
                     for m in ("val_accuracy", "test_accuracy"))  # fmt: skip
        for b, batch_size in enumerate(batch_sizes):
            ax.plot(x, val[b, usable], "o-", color=f"C{b}", label=f"batch {batch_size}: validation")
            ax.plot(x, test[b, usable], "x--", color=f"C{b}", alpha=0.6,
                    label=f"batch {batch_size}: test")  # fmt: skip
        ax.axhline(0.1, color="0.5", linestyle=":", linewidth=1)
        if x:
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(x, [f"{lr:g}" for lr in x])
            ax.set_xlim(min(x) / 1.6, max(x) * 1.6)
        ax.set_ylim(0, 1.02)
        ax.set_title(optimizer, fontsize=10)
        ax.set_xlabel("learning rate")
    axes[0].set_ylabel("accuracy")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    return fig


def seeds_figure(
    others: Sequence[float], seed_val: Sequence[float], chosen: float, band: float, seed: int
) -> Figure:
    """Validation accuracies: the grid's other settings (one run each), the chosen setting
    with several seeds (mean ± std), and the noise band around the chosen run; the right
    panel zooms in on the chosen setting."""
    fig = Figure(figsize=(9, 2.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    seed_val = np.asarray(seed_val, float)
    for ax in axes:
        if len(others):
            ax.plot(others, np.zeros(len(others)), "o", color="0.5",
                    label=f"other settings, seed {seed}")  # fmt: skip
        if len(seed_val):
            ax.plot(seed_val, np.ones(len(seed_val)), "o", color="C1",
                    label=f"chosen setting, {len(seed_val)} seeds")  # fmt: skip
        if len(seed_val) > 1:
            ax.errorbar(seed_val.mean(), 1, xerr=seed_val.std(ddof=1), fmt="D", mfc="none",
                        ms=9, color="C1", capsize=6, label="their mean ± seed std")  # fmt: skip
        if not math.isnan(band):
            ax.axvspan(chosen - band, chosen + band, color="C1", alpha=0.15,
                       label="noise band around the chosen run")  # fmt: skip
        ax.set_xlabel("validation accuracy")
    axes[0].set_yticks([0, 1], ["grid", "seeds"])
    axes[0].set_ylim(-0.6, 1.6)
    axes[0].set_xlim(0, 1.02)
    axes[0].set_title("every setting", fontsize=10)
    if not math.isnan(band):  # zoom in on the chosen setting: its spread and what lies near it
        half = 2 * max(band, 0.005)
        axes[1].set_xlim(chosen - half, min(chosen + half, 1.005))
    axes[1].set_title("close up", fontsize=10)
    if axes[0].get_legend_handles_labels()[0]:
        fig.legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="outside right upper")
    return fig


def search_figure(searches: dict[str, Any], optimizers: Sequence[str]) -> Figure:
    """Validation accuracy against the learning rate for each search (grid, random), one
    panel per optimizer: where each search looked, and what it found."""
    fig = Figure(figsize=(1.5 + 3.2 * len(optimizers), 3.0), layout="constrained")
    axes = fig.subplots(1, len(optimizers), sharey=True, squeeze=False)[0]
    markers = {"grid": ("s", "C0"), "random": ("o", "C3")}
    for ax, optimizer in zip(axes, optimizers, strict=True):
        for name, rows in searches.items():
            mine = rows[(rows.optimizer == optimizer) & (rows.status == "ok")]
            marker, color = markers.get(name, ("^", "C2"))
            ax.plot(mine.lr, mine.val_accuracy, marker, color=color, alpha=0.8, linestyle="none",
                    label=f"{name}: {mine.lr.nunique()} learning rates")  # fmt: skip
            ax.plot(mine.lr, np.full(len(mine), -0.04), "|", color=color, ms=10)  # a rug
        ax.set_xscale("log")
        ax.set_ylim(-0.08, 1.02)
        ax.set_title(optimizer, fontsize=10)
        ax.set_xlabel("learning rate")
        ax.legend(fontsize=7, loc="lower center")
    axes[0].set_ylabel("validation accuracy")
    return fig
