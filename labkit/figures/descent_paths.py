"""Notebook 01 (gradient descent): 2-D paths on a loss surface, drawn and judged.

Section 2 draws the race's three paths on the regression's loss around w_opt; section 4 draws
GD and the optimizers on the same loss in its eigen-coordinates, where it is labkit's `bowl`.
A path is cut where it leaves the view (a diverging one grows fast, and one far point would
squash the rest) and labelled with how far it got; its outcome line is judged by the notebook's
one blow-up test (`labkit.figures.descent.blew_up`) on the losses along it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit.figures.descent import blew_up, late_mean, plural
from labkit.plots import trajectory_figure

# Section 4's view of the regression's loss in its eigen-coordinates: the start's range
EIGEN_VIEW: dict[str, Any] = {
    "xlim": (-5.0, 5.0),
    "ylim": (-2.0, 2.0),
    "minimum": (0.0, 0.0),
    "size": (5.6, 3.4),
    "equal": True,
    "axis_labels": ("z₁ (flat direction, λ_min)", "z₂ (steep direction, λ_max)"),
}


def in_view(
    path: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float], margin: float = 3.0
) -> np.ndarray:
    """The path up to its first point well outside the view (or not finite): a diverging path
    grows fast, and one far point would squash the rest."""
    centre = np.array([sum(xlim), sum(ylim)]) / 2
    half = np.array([xlim[1] - xlim[0], ylim[1] - ylim[0]]) / 2
    with np.errstate(invalid="ignore"):
        inside = (np.abs(path - centre) <= margin * half).all(axis=1)
    return path if inside.all() else path[: int(np.argmin(inside)) + 1]


def paths_figure(
    surface: Callable,
    paths: Mapping[str, np.ndarray],
    steps: int,
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    front: str | None = None,
    size: tuple[float, float] | None = None,
    equal: bool = False,
    axis_labels: tuple[str, str] | None = None,
    **kwargs: Any,
) -> Figure:
    """labkit's trajectory_figure, each path (k + 1, 2) cut where it leaves the view and
    labelled with how far it got, `front` dashed on top, optionally equal scales on both
    axes and other axis labels, and the legend under the plot, where it hides no path.
    `surface` maps points (..., 2) to losses (...) and may return a NumPy array."""

    def tensor_surface(p: torch.Tensor) -> torch.Tensor:  # the contour grid wants a tensor
        return torch.as_tensor(surface(p))

    shown = {name: in_view(path, xlim, ylim) for name, path in paths.items()}
    fig = trajectory_figure(tensor_surface, shown, xlim=xlim, ylim=ylim, **kwargs)
    ax = fig.axes[0]
    for line, (name, path) in zip(ax.lines, shown.items(), strict=False):  # then the star
        k = len(path) - 1
        line.set_label(
            f"{name}: {plural(k)}"
            if k == steps
            else f"{name}: left the view at step {k} of {steps}"
        )
        if name == front:
            line.set(linestyle="--", linewidth=1.6, zorder=3)
    if equal:
        ax.set_aspect("equal")  # distances in both directions drawn to the same scale
    if axis_labels:
        ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1])
    ax.get_legend().remove()
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8)
    if size:
        fig.set_size_inches(*size)
    fig.set_dpi(72)  # a modest PNG
    return fig


# ---- a 2-D path's outcome -------------------------------------------------------------------


def bowl_limits_line(lam_max: float, mu: float) -> str:
    """The largest stable learning rates on a bowl of largest curvature λ_max: plain GD's
    2/λ_max, and momentum's and Nesterov's in PyTorch's form with momentum μ."""
    return (
        f"limits on this bowl: sgd 2/λ_max = {2 / lam_max:.4f}, momentum (2 + 2μ)/λ_max = "
        f"{(2 + 2 * mu) / lam_max:.4f}, nesterov (2 + 2μ)/((1 + 2μ) λ_max) = "
        f"{(2 + 2 * mu) / ((1 + 2 * mu) * lam_max):.4f}"
    )


def path_outcomes(surface: Callable, paths: Mapping[str, np.ndarray], lr: float, steps: int) -> str:
    """One `path_outcome` line per named 2-D path run at `lr` for `steps` steps, judged by the
    one blow-up test on its losses along the path (`surface` maps (k + 1, 2) -> (k + 1,))."""
    lines = []
    for name, path in paths.items():
        values = np.asarray(surface(torch.from_numpy(path)))  # (k + 1,): the loss along it
        outcome = path_outcome(path, values, steps, bool(blew_up(values)))
        lines.append(f"{name:15s} lr {lr:g}: {outcome}")
    return "\n".join(lines)


def path_outcome(path: np.ndarray, values: np.ndarray, steps: int, blew_up: bool) -> str:
    """One line on how a 2-D path (k + 1, 2) with losses `values` ended: it overflowed (fewer
    than steps + 1 points), blew up by the one test, or where it got to (minimum 0 at 0)."""
    if len(path) < steps + 1:
        return f"blew up: the weights overflowed at step {len(path)}"
    if blew_up:
        late = late_mean(values)
        return f"blew up: loss over the last quarter {late:.3g}, above the start {values[0]:.3g}"
    return (
        f"{plural(steps)}, loss {values[-1]:.3g} (minimum 0), "
        f"{np.hypot(*path[-1]):.3g} from the minimum"
    )
