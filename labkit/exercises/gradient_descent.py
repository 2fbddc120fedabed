"""Notebook 01 (gradient descent): `mse_gradient`, `gd_path` and `max_stable_lr`.

The learner writes the lesson's core code: the gradients of linear regression's mean squared
error by hand (with an intercept), a gradient-descent loop, and the largest stable learning
rate 2/λ_max of the Hessian 2XᵀX/n. Each checker runs the answer on fixed-seed float64 cases,
edges included (one row, one feature, d > n, a zero residual, a diverging path), compares it
with a reference (`mse_gradient` within the rounding of the answer's own precision, so a
correct float32 answer passes) and, when it is wrong, returns the hint of the common mistake
it matches.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from labkit.exercises.core import Exercise, Wrong, array, call, scalar

F64 = torch.float64


F64_EPS = float(np.finfo(np.float64).eps)


def _close(a: np.ndarray, b: np.ndarray, *, eps: float = F64_EPS, size: float = 1.0) -> bool:
    """a ≈ b within the rounding of the answer's precision: a float64 answer (eps 2.2e-16)
    gets 1e-6 relative and 1e-9 absolute; a float32 one (eps 1.2e-7) 100 rounding units, the
    absolute part on the `size` of the terms it summed (its error scales with them, not with
    the result, which is 0 at an exact fit)."""
    rtol, atol = max(1e-6, 100 * eps), max(1e-9, 100 * eps * size)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _precision(out: Any) -> float:
    """The rounding unit (eps) of the least precise floating-point part of a returned answer:
    float64's when every part is float64 or a Python number."""
    eps = [F64_EPS]
    for part in out if isinstance(out, (tuple, list)) else [out]:
        if torch.is_tensor(part) and part.is_floating_point():
            eps.append(torch.finfo(part.dtype).eps)
        elif isinstance(part, (np.ndarray, np.generic)) and np.issubdtype(part.dtype, np.floating):
            eps.append(float(np.finfo(part.dtype).eps))
    return max(eps)


# ---- mse_gradient --------------------------------------------------------------------------

Gradients = tuple[torch.Tensor, torch.Tensor]  # (grad_w (d,), grad_b ())


def _mse_gradient(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: float) -> Gradients:
    """Reference: for L = mean(r²) with r = Xw + b - y, ∇_w L = (2/n) Xᵀr and ∂L/∂b = 2 mean(r)."""
    r = X @ w + b - y  # (n,) residuals
    return 2 * X.T @ r / len(y), 2 * r.mean()


def _gradient_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, float, str]]:
    """(X, y, w, b, description): features on different scales, one row, one feature, and a
    (w, b) that fits exactly (gradients 0); n differs from 2 so a missing /n never hides."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for n, d, exact in ((20, 2, False), (7, 1, False), (1, 3, False), (50, 5, False), (9, 3, True)):
        X = torch.randn(n, d, generator=g, dtype=F64) * torch.linspace(0.5, 3.0, d)
        w_true = torch.randn(d, generator=g, dtype=F64)
        b_true = 1.5 + torch.rand((), generator=g, dtype=F64).item()
        y = X @ w_true + b_true
        if not exact:
            y = y + torch.randn(n, generator=g, dtype=F64)
        w = w_true.clone() if exact else torch.randn(d, generator=g, dtype=F64)
        b = b_true if exact else round(torch.randn((), generator=g).item() - 1, 3)
        fits = " where (w, b) fit y exactly (the gradients are 0)" if exact else ""
        cases.append((X, y, w, b, f"X of shape {(n, d)}{fits}"))
    return cases


def _variant(*, two=True, mean=True, sign=1.0, with_b=True, two_b=True):
    """The reference with one slip or more: no factor 2, a sum, the sign, b left out."""

    def gradients(X, y, w, b):
        r = sign * (X @ w + (b if with_b else 0.0) - y)
        k = (2 if two else 1) / (len(y) if mean else 1)
        return k * X.T @ r, (2 if two and two_b else 1) / (len(y) if mean else 1) * r.sum()

    return gradients


_TWO = "d/dw (x·w + b - y)² = 2 (x·w + b - y) x (the chain rule)"
_GRADIENT_MISTAKES = (  # (what the learner may have computed from X, y, w, b; hint)
    (_variant(two=False), f"the factor 2 is missing: {_TWO}"),
    (
        _variant(mean=False),
        "that is the gradient of the *sum* of squared errors; the loss is their mean, so divide "
        "by n = len(y)",
    ),
    (
        _variant(sign=-1.0),
        "the sign is flipped: with the residual r = Xw + b - y (prediction minus target) the "
        "gradient points uphill; y - Xw - b gives minus the gradient, the descent direction",
    ),
    (_variant(sign=-1.0, two=False), f"the sign is flipped and the factor 2 is missing: {_TWO}"),
    (
        _variant(with_b=False),
        "you left b out of the residual: those are the gradients of a model without an "
        "intercept; the prediction is X @ w + b, so r = X @ w + b - y",
    ),
    (
        lambda X, y, w, b: (2 * (X @ w + b - y).mean() * X.mean(0), 2 * (X @ w + b - y).mean()),
        "the mean of a product is not the product of the means: grad_w averages the per-row "
        "gradients 2 r_i x_i, that is (2/n) Xᵀr",
    ),
    (
        lambda X, y, w, b: (2 * X.T @ (X @ w + b - y) / X.shape[1], 2 * (X @ w + b - y).mean()),
        "you divided by the number of features d; the mean is over the n rows: divide by len(y)",
    ),
)
_B_MISTAKES = (  # grad_w is right; what grad_b may have been instead
    (
        lambda r: r.mean(),
        "grad_w is right; grad_b misses the factor 2: ∂/∂b r² = 2r, r = x·w + b - y",
    ),
    (lambda r: 2 * r.sum(), "grad_w is right; grad_b is a sum over the rows: take the mean"),
    (lambda r: -2 * r.mean(), "grad_w is right; grad_b has the wrong sign: 2 · mean(Xw + b - y)"),
)


def _term_size(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: float) -> float:
    """The size of the terms the gradients sum, (2/n) |X|ᵀ(|X||w| + |b| + |y|) and
    2 mean(|X||w| + |b| + |y|), largest entry: what rounding errors scale with."""
    size = X.abs() @ w.abs() + abs(b) + y.abs()  # (n,): bounds each residual's terms
    return max((2 * X.abs().T @ size / len(y)).max().item(), 2 * size.mean().item())


def _unpack_gradients(out: Any, on: str) -> tuple[np.ndarray, np.ndarray] | str:
    """The learner's (grad_w, grad_b) as arrays, or a hint about what came back."""
    if out is None:
        return "your function returned None: end it with `return grad_w, grad_b`"
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return f"return two things, (grad_w, grad_b); got {type(out).__name__} for {on}"
    gw, gb = array(out[0]), array(out[1])
    if gw is None or gb is None:
        kinds = f"{type(out[0]).__name__}, {type(out[1]).__name__}"
        return f"return a tensor (d,) and a number; got ({kinds}) for {on}"
    if gb.size != 1:
        return f"grad_b is one number, as b is; you returned shape {gb.shape} for {on}"
    return gw, gb.reshape(())


def _check_mse_gradient(fn: Any) -> str | None:
    cases = _gradient_cases()
    outs = []
    for X, y, w, b, on in cases:
        try:
            out = call(fn, X.clone(), y.clone(), w.clone(), b, on=on)
        except Wrong as e:  # X (n, d) * r (n,) lines r up with the columns, not the rows
            broadcast = ("must match the size", "could not be broadcast")
            if any(text in str(e) for text in broadcast):
                hint = "to scale row i of X by r_i, give r a column axis: r[:, None] * X"
                raise Wrong(f"{e}: {hint} (or use X.T @ r)") from None
            raise
        eps = _precision(out)
        if eps > 1e-6:  # float16 / bfloat16: 3 or 2 significant digits
            return (
                "your answer is in half precision, whose 2-3 significant digits cannot be told "
                "apart from a slip: compute in float32 or float64"
            )
        tol = {"eps": eps, "size": _term_size(X, y, w, b)}
        out = _unpack_gradients(out, on)
        if isinstance(out, str):
            return out
        close = functools.partial(_close, **tol)
        if out[0].size == len(y) != len(w) and close(out[0].ravel(), (X @ w + b - y).numpy()):
            return (
                "grad_w holds the residuals r (one per row); it has one entry per weight: (2/n) Xᵀr"
            )
        if out[0].size != len(w):
            return (
                f"grad_w has one entry per weight, shape ({len(w)},); you returned shape "
                f"{out[0].shape} for {on}"
            )
        outs.append((*out, tol))

    def matches(f: Callable, part: slice = slice(0, 2)) -> bool:  # every case; shapes apart
        return all(
            all(
                a.size == e.numel() and _close(a.ravel(), e.reshape(-1).numpy(), **got[2])
                for a, e in zip(got[:2][part], f(X, y, w, b)[part], strict=True)
            )
            for got, (X, y, w, b, _) in zip(outs, cases, strict=True)
        )

    if matches(_mse_gradient):
        shapes = [o[0].shape for o, c in zip(outs, cases, strict=True) if o[0].shape != c[2].shape]
        if shapes:
            return (
                f"right values, but grad_w is shaped {shapes[0]}: return shape (d,), like w, or "
                "the update w - lr * grad_w broadcasts to a (d, d) matrix"
            )
        return None
    hint = next((hint for f, hint in _GRADIENT_MISTAKES if matches(f)), None)
    if hint:
        return hint
    if matches(_mse_gradient, slice(0, 1)):  # grad_w right, grad_b wrong
        for f, hint in _B_MISTAKES:
            if matches(lambda X, y, w, b, f=f: (None, f(X @ w + b - y)), slice(1, 2)):
                return hint
    for (gw, gb, tol), (X, y, w, b, on) in zip(outs, cases, strict=True):
        ref_w, ref_b = _mse_gradient(X, y, w, b)
        if not _close(gw.ravel(), ref_w.numpy(), **tol):
            got, ref = (
                np.array2string(gw.ravel(), precision=4),
                np.array2string(ref_w.numpy(), precision=4),
            )
            return f"for {on} (b = {b:g}) grad_w came out {got}; expected {ref}"
        if not _close(gb, ref_b.numpy(), **tol):
            return (
                f"for {on} (b = {b:g}) grad_b came out {float(gb):.6g}; expected {ref_b.item():.6g}"
            )
    return None  # pragma: no cover (matches() found the reference above)


# ---- gd_path -------------------------------------------------------------------------------


def _quadratic(A: torch.Tensor, b: torch.Tensor) -> Callable[[Any], torch.Tensor]:
    """The gradient of f(w) = ½ wᵀAw - bᵀw: A w - b (takes a tensor or an array)."""

    def grad(w: Any) -> torch.Tensor:
        return A @ torch.as_tensor(w, dtype=F64) - b

    return grad


def _gd_cases() -> list[tuple[Callable, torch.Tensor, float, int, str]]:
    """(grad, w0, lr, steps, description): a stretched bowl, a correlated one, one weight and
    one step, and a learning rate past 2/λ_max whose path grows."""
    g = torch.Generator().manual_seed(1)
    M = torch.randn(3, 3, generator=g, dtype=F64)
    cases = []
    for A, lr, steps, what in (
        (torch.diag(torch.tensor([1.0, 20.0], dtype=F64)), 0.05, 6, "A = diag(1, 20)"),
        (M @ M.T + torch.eye(3, dtype=F64), None, 5, "a correlated 3×3 A"),
        (torch.tensor([[2.0]], dtype=F64), 0.3, 1, "one weight and steps=1"),
        (torch.diag(torch.tensor([1.0, 4.0], dtype=F64)), 0.6, 4, "lr = 0.6 > 2/λ_max"),
    ):
        if lr is None:
            lr = round(1.5 / torch.linalg.eigvalsh(A)[-1].item(), 4)  # converges, zig-zagging
        d = A.shape[0]
        b = torch.randn(d, generator=g, dtype=F64)
        w0 = torch.randn(d, generator=g, dtype=F64) * 2
        cases.append((_quadratic(A, b), w0, lr, steps, f"{what}, lr={lr:g}, steps={steps}"))
    return cases


def _gd_path(
    grad: Callable, w0: torch.Tensor, lr: float, steps: int, *, stale=False, sign=-1.0, rate=True
):
    """Reference: rows w_0 … w_steps with w_{t+1} = w_t - lr ∇f(w_t); keywords replay mistakes."""
    w, path = w0.clone(), [w0.clone()]
    g0 = grad(w0)
    for _ in range(steps):
        g = g0 if stale else grad(w)
        w = w + sign * (lr if rate else 1.0) * g
        path.append(w)
    return torch.stack(path)


_STEP = "w = w - lr * grad(w)"
_GD_MISTAKES = (  # (a variant of the reference; hint)
    ({"sign": 1.0}, f"the path climbs: that is gradient *ascent*; step downhill: {_STEP}"),
    ({"stale": True}, "you computed the gradient once, at w0; recompute grad(w) at every step"),
    ({"rate": False}, f"scale each step by the learning rate: {_STEP}"),
)


def _as_path(out: Any) -> np.ndarray | None:
    """A returned path (tensor, array, or list of points) as a float64 array, or None."""
    if isinstance(out, (list, tuple)) and out and all(torch.is_tensor(o) for o in out):
        out = torch.stack([o.detach().cpu().to(F64) for o in out])
    return array(out)


def _check_gd_path(fn: Any) -> str | None:
    cases = _gd_cases()
    paths = []
    for grad, w0, lr, steps, on in cases:
        given = w0.clone()
        out = call(fn, grad, given, lr, steps, on=on)
        a = _as_path(out)
        ref = _gd_path(grad, w0, lr, steps).numpy()
        if out is None:
            return "your function returned None: end it with `return` and the path"
        if a is None:
            return f"return a tensor (steps + 1, d); got {type(out).__name__} for {on}"
        if a.shape == ref.shape[1:]:
            return "you returned one point; return the whole path: w0, then one row per step"
        if a.shape == (steps, ref.shape[1]) and _close(a, ref[1:]):
            return "the start is missing: row 0 is w0, then one row per step (steps + 1 rows)"
        if a.shape != ref.shape:
            return (
                f"for {on} your path has shape {a.shape}; expected {ref.shape}: the start w0, "
                "then one row per step"
            )
        if len(a) > 2 and np.allclose(a[1:], a[-1]) and not np.allclose(ref[1:], ref[-1]):
            return (
                "every row after the start is the same point: you stored the same tensor each "
                "step and then changed it in place (w -= ...); store w.clone(), or write "
                "w = w - lr * grad(w)"
            )
        paths.append(a)
        if _close(a, ref) and not torch.equal(given, w0):
            return "the path is right, but you changed the caller's w0 in place: w = w0.clone()"
    for mistake, hint in _GD_MISTAKES:
        if all(
            _close(a, _gd_path(g, w0, lr, s, **mistake).numpy())
            for a, (g, w0, lr, s, _) in zip(paths, cases, strict=True)
        ):
            return hint
    for a, (grad, w0, lr, steps, on) in zip(paths, cases, strict=True):
        ref = _gd_path(grad, w0, lr, steps).numpy()
        if not _close(a, ref):
            t = int(np.argmax(~np.isclose(a, ref, rtol=1e-6, atol=1e-9).all(axis=1)))
            return (
                f"for {on}, row {t} of your path is {np.array2string(a[t], precision=4)}; expected "
                f"{np.array2string(ref[t], precision=4)} (row t is the point after t steps)"
            )
    return None


# ---- max_stable_lr -------------------------------------------------------------------------


def _hessian(X: torch.Tensor) -> torch.Tensor:
    return 2 * X.T @ X / X.shape[0]  # (d, d): the Hessian of mean((Xw - y)²), the same for every w


def _max_stable_lr(X: torch.Tensor) -> float:
    """Reference: 2 / λ_max(2XᵀX/n)."""
    return 2 / torch.linalg.eigvalsh(_hessian(X))[-1].item()


def _stable_cases() -> list[tuple[torch.Tensor, str]]:
    """Correlated features (so the diagonal is not the spectrum), one feature, d > n."""
    g = torch.Generator().manual_seed(2)
    cases = []
    for n, d, what in ((200, 2, ""), (60, 4, ""), (30, 1, " (one feature)"), (5, 8, " (d > n)")):
        mix = torch.randn(d, d, generator=g, dtype=F64) + 2 * torch.eye(d, dtype=F64)
        X = torch.randn(n, d, generator=g, dtype=F64) @ mix * 1.5
        cases.append((X, f"X of shape {(n, d)}{what}"))
    return cases


def _spectrum(X: torch.Tensor) -> np.ndarray:
    return torch.linalg.eigvalsh(_hessian(X)).numpy()


def _inv(v: Any) -> float:
    v = float(v)
    return 2 / v if v > 1e-12 else math.inf


_STABLE_MISTAKES = (  # (what the learner may have computed from X; hint)
    (
        lambda X: 2 / torch.linalg.eigvalsh(X.T @ X / len(X))[-1].item(),
        "the Hessian of the mean squared error is 2XᵀX/n: you left out the 2 (the same 2 as in "
        "the gradient), so your learning rate is twice too large and would diverge",
    ),
    (
        lambda X: 1 / torch.linalg.eigvalsh(_hessian(X))[-1].item(),
        "1/λ_max is the rate that solves the steepest direction in one step; gradient descent "
        "still converges up to 2/λ_max, where the step overshoots by exactly as much as it moves",
    ),
    (
        lambda X: 2 / torch.linalg.eigvalsh(2 * X.T @ X)[-1].item(),
        "XᵀX sums over the n rows; the loss is a mean, so its Hessian is 2XᵀX/n: divide by n",
    ),
    (
        lambda X: torch.linalg.eigvalsh(_hessian(X))[-1].item(),
        "you returned λ_max; the limit is 2/λ_max",
    ),
    (
        lambda X: len(X) / torch.linalg.svdvals(X)[0].item(),
        "the singular values of X are the square roots of the eigenvalues of XᵀX: square the "
        "largest one, or take the eigenvalues of the Hessian 2XᵀX/n directly",
    ),
    (
        lambda X: _inv(torch.trace(_hessian(X))),
        "the trace is the sum of all eigenvalues, so 2/trace is too cautious; the limit is set by "
        "the largest eigenvalue alone: torch.linalg.eigvalsh(H)[-1]",
    ),
    (
        lambda X: _inv(torch.diag(_hessian(X)).max()),
        "the diagonal of the Hessian holds its eigenvalues only when the features are "
        "uncorrelated; compute the eigenvalues: torch.linalg.eigvalsh(2 * X.T @ X / n)",
    ),
    (
        lambda X: _inv(lam) if (lam := _spectrum(X)[0]) > 1e-9 else None,  # skip d > n
        "that is 2 over the *smallest* eigenvalue: the largest one, the steepest direction, sets "
        "the limit (torch.linalg.eigvalsh sorts ascending, so its [-1] is the largest; "
        "torch.linalg.eigvals does not sort at all: use eigvalsh, or eigvals(H).real.max())",
    ),
)


_COMPLEX = (
    "torch.linalg.eigvals/eig return complex numbers (which have no max or order); the Hessian "
    "is symmetric, so use torch.linalg.eigvalsh: real eigenvalues, sorted ascending"
)
_WHY = {  # exceptions the learner's code may raise, and what they mean here
    ZeroDivisionError: "you divided by 0: by the smallest eigenvalue? It is 0 when d > n; the "
    "largest one sets the limit",
    NotImplementedError: _COMPLEX,  # torch: "max_all" not implemented for 'ComplexDouble'
}


def _check_max_stable_lr(fn: Any) -> str | None:
    cases = _stable_cases()
    values = []
    for X, on in cases:
        out = call(fn, X.clone(), on=on, why=_WHY)
        if np.iscomplexobj(out.detach().cpu() if torch.is_tensor(out) else out):
            return f"return a real number: {_COMPLEX}"
        v = scalar(out)
        if v is None:
            return f"return one real number (a float) for {on}, not {type(out).__name__}"
        values.append(v)

    def same(v: float, ref: float | None) -> bool:  # ref None: the case says nothing
        return ref is None or math.isclose(v, ref, rel_tol=1e-6)  # inf is close to inf

    for mistake, hint in ((_max_stable_lr, None), *_STABLE_MISTAKES):
        if all(same(v, mistake(X)) for v, (X, _) in zip(values, cases, strict=True)):
            return hint
    for v, (X, on) in zip(values, cases, strict=True):
        ref = _max_stable_lr(X)
        if same(v, ref):
            continue
        if any(same(v, _inv(lam)) for lam in _spectrum(X)[:-1]):
            return (
                f"for {on} you used an eigenvalue that is not the largest (torch.linalg.eigvals "
                "does not sort at all: use eigvalsh, whose [-1] is the largest, or "
                "eigvals(H).real.max())"
            )
        return f"for {on} you returned {v:.6g}; expected 2/λ_max = {ref:.6g}"
    return None  # pragma: no cover


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "mse_gradient",
            "Write `mse_gradient(X, y, w, b)` for linear regression *with an intercept* b: "
            "X (n, d), y (n,) and w (d,) are float64 tensors and b is a float; return the "
            "gradients of the loss mean((X @ w + b - y)²) with respect to w and to b, worked "
            "out by hand (no autograd), as a tuple (grad_w of shape (d,), grad_b a number).",
            _check_mse_gradient,
            f"passed on {len(_gradient_cases())} cases, including one row, one feature and a "
            "(w, b) that fits exactly",
        ),
        Exercise(
            "gd_path",
            "Write `gd_path(grad, w0, lr, steps)`: plain gradient descent from the point w0 "
            "(a float64 tensor (d,)), where `grad(w)` returns the gradient at w; return the "
            "path as a tensor (steps + 1, d): w0, then the point after each of the `steps` "
            "steps w ← w - lr · grad(w). Leave the caller's w0 unchanged.",
            _check_gd_path,
            f"passed on {len(_gd_cases())} quadratics, including steps=1 and a learning rate "
            "past 2/λ_max",
        ),
        Exercise(
            "max_stable_lr",
            "Write `max_stable_lr(X) -> float`: the largest learning rate at which gradient "
            "descent on the mean squared error mean((X @ w - y)²) of linear regression still "
            "converges, 2/λ_max, where λ_max is the largest eigenvalue of the loss's Hessian "
            "2XᵀX/n (X is a float64 tensor (n, d)).",
            _check_max_stable_lr,
            f"passed on {len(_stable_cases())} data matrices, including correlated features "
            "and more features than rows",
        ),
    )
}
