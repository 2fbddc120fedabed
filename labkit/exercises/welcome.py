"""Notebook 00 (welcome): `steps_per_epoch` and `standardize`, graded by `check(name, f)`.

Each checker runs the learner's function on fixed cases (edge cases included: n <
batch_size, batch_size 1, a constant feature, two training rows), compares it with a
reference, and when it is wrong looks for the common mistake it matches to return that
mistake's hint. Exposed as `EXERCISES`, which `labkit.exercises` merges with the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from labkit.exercises.core import Exercise, array, call, scalar

# ---- steps_per_epoch -----------------------------------------------------------------------

# (n, batch_size): divisible or not, n < batch_size, batch_size 1; round() fails some of each
_STEPS_CASES = ((100, 10), (101, 10), (20, 32), (5, 1), (1797, 64), (1, 1), (640, 64), (7, 32))
_STEPS_MISTAKES = (  # (what the learner may have computed; hint)
    (
        lambda n, b: n // b,
        "the last, smaller batch counts too: n // batch_size drops it when batch_size does not "
        "divide n (101 examples in batches of 10 take 11 steps); round up instead",
    ),
    (
        lambda n, b: n // b + 1,
        "when batch_size divides n there is no leftover batch: n // batch_size + 1 counts one "
        "step too many there (100 examples in batches of 10 take 10 steps, not 11)",
    ),
    (lambda n, b: n / b, "n / batch_size is a fraction of a step; round it up (math.ceil)"),
)


def _check_steps_per_epoch(fn: Any) -> str | None:
    outs = [call(fn, n, b, on=f"n={n}, batch_size={b}") for n, b in _STEPS_CASES]
    values = [scalar(o) for o in outs]
    for mistake, hint in ((lambda n, b: -(-n // b), None), *_STEPS_MISTAKES):  # ceil, in ints
        if all(v == mistake(n, b) for v, (n, b) in zip(values, _STEPS_CASES, strict=True)):
            bad = [o for o in outs if isinstance(o, bool) or not isinstance(o, (int, np.integer))]
            if hint or not bad:
                return hint
            return (
                f"right count, but return an int, not {bad[0]!r}: math.ceil(n / batch_size) "
                "and -(-n // batch_size) give ints, np.ceil gives floats"
            )
    i = next(i for i, (n, b) in enumerate(_STEPS_CASES) if values[i] != -(-n // b))
    (n, b), out = _STEPS_CASES[i], outs[i]
    return f"steps_per_epoch({n}, {b}) returned {out!r}; expected {-(-n // b)}"


# ---- standardize ---------------------------------------------------------------------------


def _standardize(train_x: torch.Tensor, x: torch.Tensor, ddof: int = 1) -> torch.Tensor:
    """Reference: per-feature mean and std of the training rows; divide by 1 where std ~ 0."""
    std = train_x.std(0, correction=ddof)
    return (x - train_x.mean(0)) / torch.where(std > 1e-6, std, torch.ones_like(std))


_STANDARDIZE_SHAPES = ((20, 8, 5), (40, 10, 16), (2, 5, 3), (15, 15, 4))  # n=2: least for ddof=1
_STANDARDIZE_MISTAKES = (  # (what the learner may have computed, given ddof; hint)
    (
        lambda t, x, d: (x - x.mean(0)) / x.std(0, correction=d),
        "you used x's own mean and std: that leaks information from held-out data into the "
        "model; use the training rows' statistics (train_x.mean(0), train_x.std(0))",
    ),
    (
        lambda t, x, d: (x - t.mean()) / t.std(correction=d),
        "you used one mean and std over all entries; standardize each feature (column) on its "
        "own: train_x.mean(0), train_x.std(0), per column: dim 0",
    ),
    (
        lambda t, x, d: (x - t.mean(0)) / t.var(0, correction=d),
        "you divided by the variance; divide by the standard deviation, its square root",
    ),
    (lambda t, x, d: x / t.std(0, correction=d), "subtract the training mean first"),
    (lambda t, x, d: x - t.mean(0), "you centred x; now divide by each feature's training std"),
)


def _matches(out: torch.Tensor, f: Callable, t: torch.Tensor, x: torch.Tensor, cols) -> bool:
    """Does `out` equal f(t, x, ddof) on columns `cols`, for either ddof (0 or 1)?"""
    return any(torch.allclose(out[:, cols], f(t, x, d)[:, cols], 1e-4, 1e-4) for d in (0, 1))


def _check_standardize(fn: Any) -> str | None:
    g = torch.Generator().manual_seed(0)
    for n, m, k in _STANDARDIZE_SHAPES:  # train rows, held-out rows, features
        scale, shift = torch.rand(k, generator=g) * 10 + 0.5, torch.randn(k, generator=g) * 10
        train_x = torch.randn(n, k, generator=g) * scale + shift
        x = torch.randn(m, k, generator=g) * 2 * scale + shift + 3  # held-out rows drift away
        # A feature constant in training, like a digit's blank border pixel, that held-out
        # rows do use (ink where training never had any): dividing by a tiny std blows it up.
        train_x[:, 1], x[:, 1] = 4.0, torch.where(torch.arange(m) % 2 == 0, 4.0, 6.0)
        on = f"train_x of shape {(n, k)} and x of shape {(m, k)}"
        out = array(call(fn, train_x.clone(), x.clone(), on=on))
        if out is None or out.shape != (m, k):
            return f"for {on}, return a tensor or array shaped like x, one value per entry"
        out, t, x = torch.from_numpy(out), train_x.double(), x.double()
        varying = t.std(0) > 1e-6  # compare these first; the constant feature comes last
        if _matches(out, _standardize, t, x, slice(None)):
            continue
        if _matches(out, _standardize, t, x, varying):
            if not out.isfinite().all():
                return (
                    "feature 1 is constant in the training rows (std 0), so dividing by its std "
                    "gives NaN or inf; divide such features by 1: torch.where(std > 1e-6, std, 1)"
                )
            if out[:, 1].abs().max() > 1e3:
                return (
                    "feature 1 is constant in the training rows (std 0); dividing by a tiny "
                    "std (plus an eps, clamped, or patched with nan_to_num) turns a held-out "
                    "value that differs into a huge number: divide such features by 1 instead, "
                    "torch.where(std > 1e-6, std, 1)"
                )
            return "feature 1 is constant in the training rows: leave it centred, divided by 1"
        hint = next((h for f, h in _STANDARDIZE_MISTAKES if _matches(out, f, t, x, varying)), None)
        if hint:
            return hint
        ref = _standardize(t, x)
        i, j = torch.nonzero(~torch.isclose(out, ref, 1e-4, 1e-4) & varying)[0].tolist()
        return (
            f"for {on}, entry [{i}, {j}] came out {out[i, j]:.4g}; expected {ref[i, j]:.4g}, "
            "that is (x - train mean) / train std, per feature"
        )
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "steps_per_epoch",
            "Write `steps_per_epoch(n: int, batch_size: int) -> int`: the number of optimizer "
            "steps in one pass (epoch) over `n` examples in batches of `batch_size`, when the "
            "last, smaller batch is kept (as `labkit.Batches` does by default).",
            _check_steps_per_epoch,
            f"passed on {len(_STEPS_CASES)} cases, including n < batch_size and batch_size 1",
        ),
        Exercise(
            "standardize",
            "Write `standardize(train_x, x)`: return `x` standardized per feature (column) with "
            "the mean and standard deviation of the training rows `train_x`; both are float32 "
            "tensors (N, F) and (M, F). A feature whose training std is (near) 0 is only "
            "centred, divided by 1, as `labkit.data.split` does. Return a tensor or array.",
            _check_standardize,
            f"passed on {len(_STANDARDIZE_SHAPES)} generated cases, including a constant feature",
        ),
    )
}
