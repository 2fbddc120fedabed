"""Notebook 01 (gradient descent), section 3: SGD's own learning-rate limit and noise floor,
derived from the data's moments; and the bisection that measures a blow-up threshold.

Near the minimum of a least-squares loss, with e = w − w_opt and r = y − x · w_opt, one SGD step
on a batch of B rows drawn without replacement maps P = E[eeᵀ] (the average over runs) to

    P ← P − 2lr (SP + PS) + 4lr² (SPS + f_B (E[xxᵀ P xxᵀ] − SPS)) + 4lr² f_B E[r² xxᵀ],

S = E[xxᵀ], f_B = (n − B)/((n − 1)B). The first terms are linear in P: a d² × d² matrix T on
P's entries (vec(P)). The mean excess loss tr(SP) stays finite exactly when T's eigenvalues are
below 1 (mean-square stability), and then it settles at the fixed point P = T P + noise: the
noise floor. `MeanSquareSGD` holds the three moments of the data and does that linear algebra;
the notebook derives it in its text and measures both the limit and the floor against it. At
B = n (f_B = 0) the limit is full-batch GD's 2/λ_max exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labkit.progress import progress


@dataclass(frozen=True)
class MeanSquareSGD:
    """The moments of a least-squares problem that set SGD's mean-square dynamics at w_opt."""

    second: np.ndarray  # (d, d): S = E[xxᵀ], half the Hessian
    fourth: np.ndarray  # (d², d²): vec(P) ↦ vec(E[xxᵀ P xxᵀ]), the fourth moment of x
    noise: np.ndarray  # (d²,): vec(E[r² xxᵀ]), r = y − x · w_opt the part no w predicts
    n: int  # rows in the data: batches are drawn from these without replacement

    @classmethod
    def from_data(cls, x: np.ndarray, y: np.ndarray, w_opt: np.ndarray) -> MeanSquareSGD:
        """The moments of rows x (n, d) with targets y (n,) around the least-squares w_opt (d,)."""
        n, d = x.shape
        xx = np.einsum("ni,nj->nij", x, x).reshape(n, d * d)  # (n, d²): each row's x xᵀ
        r = y - x @ w_opt  # (n,)
        return cls(x.T @ x / n, xx.T @ xx / n, (xx * r[:, None] ** 2).mean(0), n)

    def batch_factor(self, b: int) -> float:
        """f_B: the variance of a mean of b rows drawn without replacement, over one row's."""
        return (self.n - b) / ((self.n - 1) * b)

    def batch_square(self, b: int) -> np.ndarray:
        """vec(P) ↦ vec(E[Ĥ P Ĥ])/4, Ĥ the Hessian of one batch of b rows: (d², d²)."""
        sps = np.kron(self.second, self.second)  # vec(P) ↦ vec(SPS)
        return sps + self.batch_factor(b) * (self.fourth - sps)

    def step_map(self, lr: float, b: int) -> np.ndarray:
        """T, one step's effect on vec(P), the noise aside: (d², d²)."""
        return np.eye(len(self.noise)) - 2 * lr * self._sp_ps() + 4 * lr**2 * self.batch_square(b)

    def limit(self, b: int) -> float:
        """The lr where T's largest eigenvalue reaches 1: T v = v ⇔ batch_square v = SP_PS v
        / (2lr), so the limit is 1 / (2 × the largest eigenvalue of SP_PS⁻¹ batch_square)."""
        eig = np.linalg.eigvals(np.linalg.solve(self._sp_ps(), self.batch_square(b)))
        return float(1 / (2 * eig.real.max()))

    def floor(self, lr: float, b: int) -> float:
        """The noise floor tr(SP) at the fixed point P = T P + 4lr² f_B E[r² xxᵀ]; infinite at
        or above the limit, where there is no fixed point to settle at."""
        if lr >= self.limit(b):
            return math.inf
        noise = 4 * lr**2 * self.batch_factor(b) * self.noise
        P = np.linalg.solve(np.eye(len(self.noise)) - self.step_map(lr, b), noise)
        return float(self.second.reshape(-1) @ P)

    def _sp_ps(self) -> np.ndarray:
        """vec(P) ↦ vec(SP + PS): (d², d²)."""
        eye = np.eye(len(self.second))
        return np.kron(self.second, eye) + np.kron(eye, self.second)


def bisect_threshold(
    blows_up: Callable[[np.ndarray], np.ndarray | bool],
    low: float | np.ndarray,
    high: float | np.ndarray,
    halvings: int,
    *,
    desc: str | None = None,
) -> float | np.ndarray:
    """Bisection on a log scale for the rate above which `blows_up(rate)` is True, `low` (which
    should not blow up) and `high` (which should) bracketing it: each halving tries the
    geometric midpoint and keeps the half where the answer changes. Returns `high`, the lowest
    rate seen to blow up, within a factor (high / low)^(1 / 2^halvings) of the threshold.
    `blows_up` may answer for many runs at once (an array of flags, one rate each): each run
    is then bisected on its own. `desc` shows a progress bar over the halvings."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    for _ in progress(range(halvings), desc=desc or "", enabled=desc is not None):
        middle = np.sqrt(low * high)
        up = np.asarray(blows_up(middle if middle.ndim else float(middle)))
        low, high = np.where(up, low, middle), np.where(up, middle, high)
    return high if high.ndim else float(high)
