"""Matplotlib figures for the course. Each returns a `Figure`; nothing is shown implicitly."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure


def history_figure(history: Any, *, title: str = "training") -> Figure:
    """Loss (train and val) and val accuracy per epoch, side by side."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(history.epoch, history.train_loss, marker=".", label="train")
    if history.val_loss:
        loss_ax.plot(history.epoch, history.val_loss, marker=".", label="val")
    loss_ax.set(xlabel="epoch", ylabel="loss", title=f"{title}: loss", yscale="log")
    loss_ax.legend()
    if history.val_accuracy:
        acc_ax.plot(history.epoch, history.val_accuracy, marker=".", color="C1")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title=f"{title}: val accuracy")
    acc_ax.grid(alpha=0.3)
    return fig


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
