"""Matplotlib figures for the course. Each returns a `Figure`; nothing is shown implicitly."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator


def history_figure(history: Any, *, title: str = "training", epochs: int | None = None) -> Figure:
    """Loss (train and val, log scale) and val accuracy per epoch, best epoch marked."""
    return HistoryPlot(title, epochs=epochs).draw(history)


class HistoryPlot:
    """The curves of one run in a figure that is built once and redrawn cheaply.

    Building a figure and rendering mathtext tick labels cost more than an epoch of the
    course models, so a live plot keeps one figure and only replaces its lines' data.
    """

    def __init__(self, title: str = "training", *, epochs: int | None = None) -> None:
        self.title = title
        self.epochs = epochs  # planned epochs, shown as "epoch k/N" when known
        self.figure = Figure(figsize=(9, 3.2), dpi=72)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.86, wspace=0.25)
        self.loss_ax, self.acc_ax = self.figure.subplots(1, 2)
        (self.train,) = self.loss_ax.plot([], [], marker=".", label="train (mean during the epoch)")
        (self.val,) = self.loss_ax.plot([], [], marker=".", label="val (after the epoch)")
        (self.acc,) = self.acc_ax.plot([], [], marker=".", color="C1")
        self.best = [ax.axvline(1, color="0.5", linestyle=":") for ax in self.figure.axes]
        for ax in self.figure.axes:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
            ax.set_xlabel("epoch")
        # The loss falls by orders of magnitude: a log axis, with plain tick labels.
        self.loss_ax.set(yscale="log", ylabel="loss (log scale)")
        self.loss_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        self.loss_ax.yaxis.set_minor_locator(NullLocator())
        self.loss_ax.set_title(f"{title}: loss", fontsize=10)
        self.acc_ax.set(ylabel="accuracy")
        self.acc_ax.set_title(f"{title}: val accuracy", fontsize=10)
        self.acc_ax.grid(alpha=0.3)
        self.best[0].set_label("lowest val loss")
        self.legend = self.loss_ax.legend(fontsize=8, loc="lower left")  # made once: cheaper
        self.status = self.figure.suptitle("", fontsize=9, x=0.98, ha="right")

    def draw(self, history: Any) -> Figure:
        """Show `history` (a labkit History) and return the figure."""
        n_val = len(history.val_loss)
        self.train.set_data(history.epoch, history.train_loss)
        self.val.set_data(history.epoch[:n_val], history.val_loss)
        self.acc.set_data(history.epoch[: len(history.val_accuracy)], history.val_accuracy)
        if not n_val and len(self.legend.texts) > 1:  # a run without validation: train only
            self.legend = self.loss_ax.legend(handles=[self.train], fontsize=8, loc="lower left")
        best = best_epoch(history)
        for line in self.best:
            line.set_visible(best is not None)
            line.set_xdata([best or 1] * 2)
        if best is not None:
            self.legend.texts[-1].set_text(f"lowest val loss (epoch {best})")
        for ax in self.figure.axes:
            ax.relim(visible_only=True)
            ax.autoscale_view()
        planned = f"/{self.epochs}" if self.epochs else ""
        self.status.set_text(f"epoch {len(history)}{planned}")
        return self.figure


def best_epoch(history: Any) -> int | None:
    """The epoch with the lowest validation loss, or None without validation."""
    if not history.val_loss:
        return None
    return history.epoch[int(np.argmin(history.val_loss))]


def confusion_matrix_figure(cm: np.ndarray, *, labels: list[str] | None = None) -> Figure:
    """Counts with row = true class and column = predicted class; errors are off-diagonal."""
    cm = np.asarray(cm)
    n = cm.shape[0]
    labels = labels or [str(i) for i in range(n)]
    fig = Figure(figsize=(4.6, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                color = "white" if cm[i, j] > cm.max() / 2 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set(xticks=range(n), yticks=range(n), xticklabels=labels, yticklabels=labels)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    return fig


def images_figure(
    images: np.ndarray, titles: list[str], *, columns: int = 8, size: float = 1.2
) -> Figure:
    """A grid of grey images (N, H, W) with a title above each."""
    images = np.asarray(images)
    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(columns * size, rows * size * 1.25), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, img, title in zip(axes, images, titles, strict=False):
        ax.imshow(img, cmap="gray_r")
        ax.set_title(title, fontsize=8)
    return fig


def trajectory_figure(
    surface: Any,
    paths: dict[str, np.ndarray],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    minimum: tuple[float, float] | None = None,
    title: str = "",
) -> Figure:
    """Contours of a 2-D `surface` (log-spaced levels) with each named path drawn on it."""
    from labkit.landscapes import grid

    X, Y, Z = grid(surface, xlim, ylim)
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    ax = fig.subplots()
    low = max(float(Z.min()), 1e-3 * float(Z.max()), 1e-12)
    levels = np.geomspace(low, float(Z.max()), 18)  # log-spaced: valleys stay visible
    ax.contour(X, Y, Z, levels=levels, cmap="viridis", linewidths=0.7)
    for i, (name, path) in enumerate(paths.items()):
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=3, linewidth=1, color=f"C{i}",
                label=f"{name} ({len(path) - 1} step{'' if len(path) == 2 else 's'})")  # fmt: skip
    if minimum is not None:
        ax.plot(*minimum, marker="*", markersize=12, color="gold", markeredgecolor="k")
    ax.set(xlim=xlim, ylim=ylim, xlabel="w₁", ylabel="w₂", title=title)
    ax.legend(fontsize=8, loc="upper left")
    return fig
