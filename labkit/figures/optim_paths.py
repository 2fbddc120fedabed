"""Notebook 02 (optimizers), section 2: the seven optimizers' paths on 2-D loss surfaces.

The notebook runs `labkit.landscapes.trajectory` for each optimizer on a steep bowl and on
Rosenbrock's valley, and replays RMSprop's valley path with its from-scratch rule; what is
here draws the panels, tabulates the final losses and turns, words the replay, and judges a
path the learner draws: it diverged when it left the finite numbers (it stopped early) or its
loss ended above its start, since a diverging path can stay finite (10⁶², say) for a hundred
steps and still be no result.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from labkit.figures.optimizers import COLORS, Surface
from labkit.landscapes import grid


def paths_figure(
    surface: Surface,
    paths: Mapping[str, np.ndarray],
    lrs: Mapping[str, float],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    minimum: tuple[float, float],
    title: str,
) -> Figure:
    """One panel per optimizer's path on the surface's contours, and a last panel with the
    loss per step of all of them (log scale)."""
    X, Y, Z = grid(surface, xlim, ylim, 120)
    levels = np.geomspace(max(Z.min(), 1e-3 * Z.max(), 1e-12), Z.max(), 14)  # log-spaced
    fig = Figure(figsize=(12, 5.6), dpi=80, layout="constrained")
    axes = fig.subplots(2, 4)
    for ax, (name, path) in zip(axes.flat, paths.items(), strict=False):
        ax.contourf(
            X, Y, Z, levels=levels, cmap="viridis", norm=LogNorm(), alpha=0.45, extend="min"
        )  # darker is lower
        ax.plot(path[:, 0], path[:, 1], ".-", color=COLORS[name], markersize=3, linewidth=1)
        ax.plot(*minimum, marker="*", markersize=12, color="gold", markeredgecolor="k")
        ax.set(xlim=xlim, ylim=ylim, xticks=[], yticks=[])
        final = surface(torch.tensor(path[-1])).item()
        ax.set_title(f"{name}, lr {lrs[name]:g}: loss {final:.2g}", fontsize=10)
    for ax in axes.flat[len(paths) : -1]:
        ax.set_visible(False)
    ax = axes.flat[-1]
    for name, path in paths.items():
        losses = surface(torch.tensor(path)).numpy().clip(1e-30, 1e30)  # a diverging path too
        ax.plot(losses, color=COLORS[name], label=name)
    ax.set(yscale="log", xlabel="step")
    ax.set_title("loss per step (log scale)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=11)
    return fig


def turns(path: np.ndarray) -> int:
    """How often the path reverses its direction in w2 (a zig-zag turns at every step)."""
    d = np.diff(path[:, 1])
    return int((d[1:] * d[:-1] < 0).sum())


def surfaces_table(
    bowl_loss: Mapping[str, float], valley_paths: Mapping[str, np.ndarray], valley: Surface
) -> str:
    """Final loss on the bowl and in the valley, the valley path's turns, and its largest
    loss after step 100 (where a path thrown out of the valley shows)."""
    valley_loss = {n: valley(torch.tensor(p[-1])).item() for n, p in valley_paths.items()}
    lines = [
        f"{'optimizer':10s} {'bowl loss':>10s} {'valley loss':>12s} {'w2 turns':>9s} "
        f"{'valley: largest loss after step 100':>36s}"
    ]
    for name, path in valley_paths.items():
        later = valley(torch.tensor(path[100:])).numpy()
        lines.append(
            f"{name:10s} {bowl_loss[name]:10.2g} {valley_loss[name]:12.2g} {turns(path):9d} "
            f"{later.max():27.3g} (step {100 + int(later.argmax())})"
        )
    lines.append(
        f"lowest final loss: on the bowl {min(bowl_loss, key=bowl_loss.get)} | in the "
        f"valley {min(valley_loss, key=valley_loss.get)}"
    )
    return "\n".join(lines)


def replay_report(
    loss: np.ndarray, effective: np.ndarray, off: float, peak: int, spike: int
) -> str:
    """RMSprop's replay along its valley path: how closely the from-scratch rule retraces it
    (`off`), the loss and effective step η/√s at steps 10, 100, 200, the `peak` of the step
    and the loss's `spike`, and how much the step grew before the spike (index: step)."""
    lines = [f"rmsprop_step from each point of the path lands on the next one to within {off:.1g}"]
    lines += [
        f"step {t:3d}: loss {loss[t]:7.3g}, effective step eta/sqrt(s) {effective[t]:.4f}"
        for t in (10, 100, 200, peak, spike)
    ]
    lines.append(
        f"the effective step grew {effective[peak] / effective[10]:.1f}x from step 10 to step "
        f"{peak}; the loss had fallen to {loss[100:spike].min():.2g} on the way, then jumped to "
        f"{loss[spike]:.3g} at step {spike}"
    )
    return "\n".join(lines)


def blew_up_on(surface: Surface, path: np.ndarray, steps: int) -> bool:
    """The path diverged: it left the finite numbers (it stopped early, with `steps` + 1
    points or fewer) or its loss ended above its start."""
    loss = surface(torch.tensor(path)).numpy()
    return bool(len(path) <= steps or loss[-1] > loss[0])


def try_line(surface: Surface, name: str, lr: float, path: np.ndarray, steps: int) -> str:
    """One line on a path the learner drew: the loss from start to end, and either that it
    diverged (`blew_up_on`) or how far w2 went down from the start."""
    start, end = surface(torch.tensor(path[[0, -1]])).tolist()
    how = (
        "it diverged"
        if blew_up_on(surface, path, steps)
        else f"w2 went from {path[0, 1]:g} down to {path[:, 1].min():.2f}"
    )
    return f"{name} at lr {lr:g}: loss {start:.2g} -> {end:.2g} in {len(path) - 1} steps: {how}"
