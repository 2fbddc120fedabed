"""Two-dimensional loss surfaces, to watch optimizers move on them.

Real losses live in millions of dimensions; on a function of two weights the whole
landscape fits in a contour plot and an optimizer's path is a line on it. The bowl is a
quadratic whose curvatures (the Hessian's eigenvalues) are `a` and `b`: plain gradient
descent converges exactly when lr < 2 / max(a, b), and a large ratio b / a (an
ill-conditioned problem) makes it zig-zag across the steep direction while it crawls along
the flat one. Rosenbrock's banana-shaped valley is the classic hard case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from labkit.optim import make_optimizer
from labkit.validate import check_int

Surface = Callable[[torch.Tensor], torch.Tensor]  # (..., 2) -> (...)


def bowl(p: torch.Tensor, a: float = 1.0, b: float = 20.0) -> torch.Tensor:
    """0.5 (a x² + b y²): a quadratic with curvatures a and b, minimum 0 at (0, 0)."""
    return 0.5 * (a * p[..., 0] ** 2 + b * p[..., 1] ** 2)


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    """(1 - x)² + 100 (y - x²)²: a curved, narrow valley with its minimum 0 at (1, 1)."""
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


SURFACES: dict[str, Surface] = {"bowl": bowl, "rosenbrock": rosenbrock}
MINIMA = {"bowl": (0.0, 0.0), "rosenbrock": (1.0, 1.0)}


def trajectory(
    surface: Surface,
    start: tuple[float, float],
    optimizer: str = "sgd",
    lr: float = 0.01,
    *,
    steps: int = 100,
    **hyper: Any,
) -> np.ndarray:
    """The points (steps + 1, 2) that `optimizer` (a labkit name) visits from `start`,
    minimizing `surface`; stops early (fewer rows) if it leaves the finite numbers."""
    check_int("steps", steps, minimum=1)
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(optimizer, [p], lr, **hyper)
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        surface(p).backward()
        opt.step()
        if not torch.isfinite(p).all():
            break
        path.append(p.detach().clone())
    return torch.stack(path).numpy()


def grid(
    surface: Surface, xlim: tuple[float, float], ylim: tuple[float, float], n: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`surface` evaluated on an n × n grid: (X, Y, Z) for a contour plot."""
    xs = torch.linspace(*xlim, n, dtype=torch.float64)
    ys = torch.linspace(*ylim, n, dtype=torch.float64)
    X, Y = torch.meshgrid(xs, ys, indexing="xy")
    Z = surface(torch.stack([X, Y], dim=-1))
    return X.numpy(), Y.numpy(), Z.numpy()
