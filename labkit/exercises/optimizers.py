"""Notebook 02 (optimizers): `adam_step`, `momentum_step` and `pick_lr`.

`adam_step` and `momentum_step` are replayed for several steps on seeded float64 tensors
and compared, weights *and* optimizer state, with what `torch.optim.Adam` and
`torch.optim.SGD` do with the same gradients (torch is the reference, not a copy of the
formula). The cases are chosen so the classic slips show: a large `eps` and tiny gradients
(eps inside the square root), a zero gradient (a missing eps gives 0/0), learning rates that
change between steps (a buffer that holds lr·g instead of g). `pick_lr` is graded on
generated learning-rate-finder curves: any rate between a quarter of the noise-free curve's
steepest point and half the lowest-loss point passes, so the usual rules ("steepest fall after
the first tenth of the points up to the lowest loss", as `labkit.optim.lr_finder`, or "a
tenth of the minimum") all do. When an answer is wrong, each checker looks for the common
mistake it matches (a swapped return order too) and returns that mistake's hint. Exposed as
`EXERCISES`, merged by `labkit.exercises`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from labkit.exercises.core import Exercise, Wrong, array, call, scalar

Tensors = tuple[torch.Tensor, ...]


def _unpack(out: Any, n: int, names: str, on: str) -> Tensors:
    """The learner's returned tuple as float64 tensors, or a hint about its shape."""
    if not isinstance(out, (tuple, list)) or len(out) != n:
        size = f" of length {len(out)}" if hasattr(out, "__len__") else ""
        raise Wrong(f"return the tuple ({names}); got a {type(out).__name__}{size} on {on}")
    arrays = [array(o) for o in out]
    if any(a is None for a in arrays):
        raise Wrong(f"return tensors ({names}); got {[type(o).__name__ for o in out]} on {on}")
    return tuple(torch.as_tensor(a) for a in arrays)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # float32 arithmetic in the learner's code passes; a nan where a mistake gives one matches
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=True))


def _w0(shape: tuple, seed: int) -> torch.Tensor:  # the starting weights of a replayed case
    gen = torch.Generator().manual_seed(seed + 100)
    return torch.randn(shape, generator=gen, dtype=torch.float64)


# ---- replaying a step function against torch.optim ------------------------------------------


def _same_run(a: list[Tensors], b: list[Tensors]) -> bool:
    return all(
        _close(x, y) for sa, sb in zip(a, b, strict=True) for x, y in zip(sa, sb, strict=True)
    )


def _diagnose(fn: Any, cases: tuple, replay: Callable, reference: Callable, mistakes: tuple,
              names: tuple, per_step: Callable) -> str | None:  # fmt: skip
    """None when `fn` replays every case as torch does; else the hint of the first classic
    mistake it matches, of a swapped return order, or `per_step`'s first differing step."""
    runs = []
    for seed, case in enumerate(cases):
        mine, w0 = replay(fn, case, seed)
        runs.append((case, seed, mine, reference(case, w0, seed)))
    if all(_same_run(mine, ref) for *_, mine, ref in runs):
        return None
    for variant, hint in mistakes:
        if all(_same_run(mine, replay(variant, c, s)[0]) for c, s, mine, _ in runs):
            return hint
    n = len(names)
    for order in itertools.permutations(range(n)):  # the right values, in another order?

        def reordered(*args, order=order):
            out = fn(*args)
            return tuple(out[i] for i in order)

        try:
            if order != tuple(range(n)) and all(
                _same_run(replay(reordered, c, s)[0], ref) for c, s, _, ref in runs
            ):
                yours = ", ".join(names[order.index(i)] for i in range(n))
                return (
                    f"right values, wrong order: you return ({yours}); return ({', '.join(names)})"
                )
        except Wrong:
            pass
    return per_step(runs)


# ---- adam_step -----------------------------------------------------------------------------

# (shape, lr, betas, eps, steps, gradient scale, what the case is about)
_ADAM_CASES = (
    ((4,), 1e-3, (0.9, 0.999), 1e-8, 5, 1.0, "PyTorch's defaults"),
    ((2, 3), 0.1, (0.8, 0.99), 1e-8, 4, 1.0, "betas=(0.8, 0.99)"),
    ((5,), 0.01, (0.5, 0.9), 0.1, 4, 1e-2, "eps=0.1 with gradients of size 0.01"),
    ((3,), 0.05, (0.9, 0.999), 1e-8, 3, 0.0, "a gradient that is exactly 0"),
)


def _grads(shape: tuple, steps: int, seed: int, scale: float = 1.0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(steps)]


def _torch_adam(case: tuple, w0: torch.Tensor, seed: int) -> list[Tensors]:
    """(w, m, v) after each step, as torch.optim.Adam computes them."""
    _, lr, betas, eps, *_ = case
    p = torch.nn.Parameter(w0.clone())
    opt = torch.optim.Adam([p], lr=lr, betas=betas, eps=eps)
    states = []
    for g in _grads(case[0], case[4], seed, case[5]):
        p.grad = g.clone()
        opt.step()
        s = opt.state[p]
        states.append((p.detach().clone(), s["exp_avg"].clone(), s["exp_avg_sq"].clone()))
    return states


def _adam_variant(correct="mv", eps_at="outside", t_shift=0, v_of=torch.square, sqrt=True,
                  swapped=False, return_hat=False, sign=1) -> Callable:  # fmt: skip
    """Adam with one of the classic slips switched on (all off: the right update)."""

    def step(w, g, m, v, t, lr, betas, eps):
        b1, b2 = betas
        if swapped:  # the weights of the old average and the new gradient exchanged
            m, v = b1 * g + (1 - b1) * m, b2 * g * g + (1 - b2) * v
        else:
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * v_of(g)
        t = t + t_shift
        m_hat = m / (1 - b1**t) if "m" in correct else m
        v_hat = v / (1 - b2**t) if "v" in correct else v
        denom = (v_hat + eps).sqrt() if eps_at == "inside" else (v_hat.sqrt() if sqrt else v_hat)
        if eps_at == "outside":
            denom = denom + eps
        w = w - sign * lr * m_hat / denom
        return (w, m_hat, v_hat) if return_hat else (w, m, v)

    return step


# fmt: off
_ADAM_MISTAKES = (  # (a slip, its hint)
    (_adam_variant(correct=""), "no bias correction: m and v start at 0, so early on they are "
     "too small; divide them by (1 - beta1**t) and (1 - beta2**t) before the step"),
    (_adam_variant(correct="m"), "only m was bias-corrected; v needs it too: v / (1 - beta2**t)"),
    (_adam_variant(correct="v"), "only v was bias-corrected; m needs it too: m / (1 - beta1**t)"),
    (_adam_variant(eps_at="inside"), "eps goes outside the square root: sqrt(v_hat) + eps, as "
     "PyTorch does (you took sqrt(v_hat + eps), which matters when v_hat is as small as eps)"),
    (_adam_variant(eps_at="none"), "add eps to the denominator, sqrt(v_hat) + eps: a weight "
     "whose gradient is 0 has v_hat = 0, and without eps its step is 0/0 = nan"),
    (_adam_variant(t_shift=1), "t is the number of this step, counting from 1: the first call "
     "gets t=1 and its bias correction divides by 1 - beta**1; you used t + 1"),
    (_adam_variant(sqrt=False), "divide by the square root of v_hat: v estimates the squared "
     "gradient, so sqrt(v_hat) has the gradient's scale and the step is about lr in size"),
    (_adam_variant(v_of=torch.abs), "v averages the squared gradient g * g, not |g|"),
    (_adam_variant(v_of=lambda g: g), "v averages the squared gradient g * g, not g itself: an "
     "average of g can be negative, and the square root of a negative v is nan"),
    (_adam_variant(swapped=True), "the averages are swapped: m = beta1 * m + (1 - beta1) * g "
     "keeps 90 % of the old m (beta1 = 0.9) and adds 10 % of the new gradient"),
    (_adam_variant(return_hat=True), "the step is right, but return the raw averages m and v "
     "(what torch keeps in its state), not the bias-corrected m_hat and v_hat: the next step "
     "updates the raw ones"),
    (_adam_variant(sign=-1), "the step goes uphill: subtract lr * m_hat / (sqrt(v_hat) + eps)"),
)
# fmt: on


def _replay_adam(fn: Callable, case: tuple, seed: int) -> tuple[list[Tensors], torch.Tensor]:
    """Call `fn` for every step of `case`, feeding back what it returned."""
    shape, lr, betas, eps, *_ = case
    w0 = _w0(shape, seed)
    w, m, v = w0.clone(), torch.zeros_like(w0), torch.zeros_like(w0)
    out = []
    for t, g in enumerate(_grads(case[0], case[4], seed, case[5]), start=1):
        on = f"step t={t} of the case with {case[-1]}"
        w, m, v = _unpack(call(fn, w.clone(), g.clone(), m.clone(), v.clone(), t, lr, betas, eps,
                               on=on), 3, "w, m, v", on)  # fmt: skip
        out.append((w, m, v))
    return out, w0


def _adam_step_hint(runs: list) -> str | None:
    for case, _, mine, ref in runs:
        for t, ((w, m, v), (rw, rm, rv)) in enumerate(zip(mine, ref, strict=True), start=1):
            where = f"at step t={t} of the case with {case[-1]}"
            if not torch.isfinite(w).all():
                bad = f"your w became {w[~torch.isfinite(w)][0].item()} {where}"
                if case[5] == 0:  # the zero-gradient case: m_hat = v_hat = 0
                    return (
                        f"{bad}: a 0/0 happened; a weight whose gradient is 0 has v_hat = 0, "
                        "and eps (outside the square root) keeps the division finite"
                    )
                if (v < 0).any():
                    return (
                        f"{bad}: your v went negative ({v.min().item():.3g}), and its square "
                        "root is nan; v averages g * g, which is never negative"
                    )
                return (
                    f"{bad}: a division by zero; t counts from 1, so the first step divides "
                    "by 1 - beta**1 (with t - 1, or t starting at 0, 1 - beta**0 = 0)"
                )
            if not _close(m, rm):
                return f"m is wrong {where}: m = beta1 * m + (1 - beta1) * g"
            if not _close(v, rv):
                return f"v is wrong {where}: v = beta2 * v + (1 - beta2) * g * g"
            if not _close(w, rw):
                return (
                    f"m and v are right but w is off by up to {(w - rw).abs().max():.3g} {where}: "
                    "w = w - lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - beta1**t), "
                    "v_hat = v / (1 - beta2**t)"
                )
    return None  # unreachable: some step differed


def _check_adam_step(fn: Any) -> str | None:
    return _diagnose(fn, _ADAM_CASES, _replay_adam, _torch_adam, _ADAM_MISTAKES,
                     ("w", "m", "v"), _adam_step_hint)  # fmt: skip


# ---- momentum_step -------------------------------------------------------------------------

# (shape, learning rate of each step, momentum, nesterov, what the case is about)
_MOMENTUM_CASES = (
    ((4,), (0.1,) * 4, 0.9, False, "momentum=0.9, a constant lr"),
    ((2, 3), (0.05,) * 4, 0.9, True, "nesterov=True, a constant lr"),
    ((5,), (0.1, 0.05, 0.2, 0.01), 0.5, False, "momentum=0.5 and a changing lr"),
    ((3,), (0.1, 0.3, 0.03, 0.1), 0.8, True, "nesterov=True and a changing lr"),
)


def _torch_sgd(case: tuple, w0: torch.Tensor, seed: int) -> list[Tensors]:
    """(w, buf) after each step, as torch.optim.SGD computes them."""
    _, lrs, momentum, nesterov, _ = case
    p = torch.nn.Parameter(w0.clone())
    opt = torch.optim.SGD([p], lr=lrs[0], momentum=momentum, nesterov=nesterov)
    states = []
    for lr, g in zip(lrs, _grads(case[0], len(case[1]), seed), strict=True):
        opt.param_groups[0]["lr"] = lr  # as a schedule does between steps
        p.grad = g.clone()
        opt.step()
        states.append((p.detach().clone(), opt.state[p]["momentum_buffer"].clone()))
    return states


def _momentum_variant(dampened=False, lr_inside=False, classical=False, nesterov="given",
                      stale=False) -> Callable:  # fmt: skip
    """SGD with momentum with one of the classic slips switched on (all off: right);
    `nesterov` "never" or "always" ignores the function's own `nesterov` argument."""
    mode = nesterov

    def step(w, g, buf, lr, momentum, nesterov):
        use_nesterov = {"given": nesterov, "never": False, "always": True}[mode]
        old = buf
        if classical:  # Sutskever et al.'s form: v = mu v - lr g; w += v
            buf = momentum * buf - lr * g
            return w + (momentum * buf - lr * g if use_nesterov else buf), buf
        if lr_inside:  # v = mu v + lr g; w -= v
            buf = momentum * buf + lr * g
            return w - (lr * g + momentum * buf if use_nesterov else buf), buf
        buf = momentum * buf + ((1 - momentum) * g if dampened else g)
        direction = g + momentum * buf if use_nesterov else buf
        return w - lr * direction, old if stale else buf

    return step


_LR_INSIDE = (
    "your buffer holds lr·g, not g: the same weights while lr stays constant, but PyTorch "
    "keeps v = momentum * v + g and multiplies by the *current* lr in the step, so a schedule "
    "that changes lr acts at once; yours lags behind"
)
# fmt: off
_MOMENTUM_MISTAKES = (
    (_momentum_variant(dampened=True), "the buffer is a decaying sum, not an average: PyTorch's "
     "v = momentum * v + g (no (1 - momentum) factor on g, dampening=0), so a steady gradient "
     "builds it up to g / (1 - momentum)"),
    (_momentum_variant(lr_inside=True), _LR_INSIDE),
    (_momentum_variant(classical=True), "that is Sutskever's form (v = momentum * v - lr * g; "
     "w += v): PyTorch keeps v = momentum * v + g and steps w -= lr * v, so its buffer has the "
     "opposite sign and no lr in it; the two differ as soon as lr changes"),
    (_momentum_variant(nesterov="never"), "with nesterov=True the step looks ahead: first "
     "v = momentum * v + g, then w -= lr * (g + momentum * v) with this updated v "
     "(g + momentum * v_old is just the plain momentum step)"),
    (_momentum_variant(nesterov="always"), "with nesterov=False the step is the plain "
     "w -= lr * v; the look-ahead g + momentum * v is for nesterov=True only"),
    (_momentum_variant(stale=True), "the weights are right but the returned buffer is the old "
     "one: return the updated v (the next call continues from it)"),
)
# fmt: on


def _replay_momentum(fn: Callable, case: tuple, seed: int) -> tuple[list[Tensors], torch.Tensor]:
    shape, lrs, momentum, nesterov, about = case
    w0 = _w0(shape, seed)
    w, buf, out = w0.clone(), torch.zeros_like(w0), []
    for i, (lr, g) in enumerate(zip(lrs, _grads(shape, len(lrs), seed), strict=True), start=1):
        on = f"call {i} of the case with {about}"
        w, buf = _unpack(call(fn, w.clone(), g.clone(), buf.clone(), lr, momentum, nesterov, on=on),
                         2, "w, buf", on)  # fmt: skip
        out.append((w, buf))
    return out, w0


def _momentum_step_hint(runs: list) -> str | None:
    for case, _, mine, ref in runs:
        constant_lr = len(set(case[1])) == 1
        for i, ((w, buf), (rw, rbuf)) in enumerate(zip(mine, ref, strict=True), start=1):
            where = f"after call {i} of the case with {case[-1]}"
            if not _close(buf, rbuf):
                if constant_lr and _close(w, rw):
                    return _LR_INSIDE
                return f"the buffer is wrong {where}: v = momentum * v + g"
            if not _close(w, rw):
                return (
                    f"the buffer is right but w is off by up to {(w - rw).abs().max():.3g} "
                    f"{where}: w -= lr * v, or w -= lr * (g + momentum * v) with nesterov=True"
                )
    return None  # unreachable: some step differed


def _check_momentum_step(fn: Any) -> str | None:
    return _diagnose(fn, _MOMENTUM_CASES, _replay_momentum, _torch_sgd, _MOMENTUM_MISTAKES,
                     ("w", "buf"), _momentum_step_hint)  # fmt: skip


# ---- pick_lr -------------------------------------------------------------------------------

# (points, where the fall is steepest, how many decades the fall spans, decades from the
# steepest point to where the loss starts to blow up, noise, how much higher the first batch's
# loss is: a start-up wobble that makes the first points fall fastest): finder-like curves
_CURVE_SHAPES = (
    (100, 3e-3, 0.8, 1.4, 0.00, 0.0),
    (80, 0.05, 0.6, 1.0, 0.02, 0.0),
    (120, 3e-4, 1.0, 1.6, 0.03, 0.0),
    (90, 0.3, 0.7, 0.9, 0.01, 0.0),
    (100, 0.01, 0.8, 1.2, 0.01, 0.5),
)


def _finder_curve(shape: tuple, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A smoothed loss-vs-lr curve as lr_finder records it (stopping once it blows up), and the
    learning rate where the noiseless loss falls fastest per unit of log lr."""
    n, steepest, width, to_blowup, noise, wobble = shape
    rng = np.random.default_rng(seed)
    lrs = np.geomspace(1e-6, 10.0, n)
    x = np.log10(lrs / steepest)  # decades from the steepest point
    clean = 0.1 + 2.2 / (1 + np.exp(4 * x / width)) + 0.5 * np.exp(3 * (x - to_blowup))
    raw = clean * (1 + noise * rng.standard_normal(n))
    raw[0] *= 1 + wobble
    smooth, avg = np.empty(n), 0.0  # bias-corrected running mean, as labkit.optim.lr_finder
    for i, value in enumerate(raw):
        avg = 0.9 * avg + 0.1 * value
        smooth[i] = avg / (1 - 0.9 ** (i + 1))
    keep = np.minimum.accumulate(smooth) * 4 >= smooth  # stops once 4× above its lowest
    end = int(np.argmin(keep)) if not keep.all() else n
    return lrs[:end], smooth[:end], steepest


def _steepest_linear(lrs: np.ndarray, losses: np.ndarray) -> float:
    end = int(np.argmin(losses)) + 1
    return float(lrs[int(np.argmin(np.gradient(losses[:end], lrs[:end])))])


# fmt: off
_PICK_MISTAKES = (  # (what the learner may have computed, hint)
    (lambda lrs, losses: lrs[int(np.argmin(losses))], "that is the lowest point of the curve: "
     "there the rate is already so large that the loss is about to blow up; take a smaller "
     "one, where the loss falls fastest (or about a tenth of this one)"),
    (lambda lrs, losses: lrs[-1], "that is the last rate tried, where the finder stopped "
     "because the loss blew up"),
    (lambda lrs, losses: lrs[0], "that is the smallest rate tried, where the loss has not "
     "started to fall: training would barely move (if your curve fell fastest there, that "
     "fall is start-up noise: skip the first tenth of the points up to the lowest loss)"),
    (_steepest_linear, "measure the slope per unit of *log* lr (np.gradient(losses, "
     "np.log(lrs))): the rates are spaced exponentially, and a slope per unit of lr is "
     "dominated by the smallest ones"),
)
# fmt: on


def _check_pick_lr(fn: Any) -> str | None:
    cases = [_finder_curve(shape, seed) for seed, shape in enumerate(_CURVE_SHAPES)]
    for i, (lrs, losses, steepest) in enumerate(cases):
        on = f"curve {i + 1} ({len(lrs)} points, lr {lrs[0]:.0e} to {lrs[-1]:.2g})"
        out = call(fn, lrs.copy(), losses.copy(), on=on)
        value = scalar(out)
        if value is None:
            return f"return one learning rate (a float); got {type(out).__name__} on {on}"
        if not math.isfinite(value):
            return f"your function returned {value} on {on}; return a finite learning rate"
        lo, hi = steepest / 4, float(lrs[int(np.argmin(losses))]) / 2  # the accepted band
        if lo <= value <= hi:
            continue
        if float(value).is_integer() and 0 <= value < len(lrs) and lo <= lrs[int(value)] <= hi:
            return "you returned an index into lrs; return the learning rate itself, lrs[i]"
        for mistake, hint in _PICK_MISTAKES:
            if math.isclose(value, mistake(lrs, losses), rel_tol=1e-9):
                return hint
        if value > hi:
            side = "too large: within a factor 2 of the lowest-loss rate, at the edge of divergence"
        elif value < lrs[max(1, (int(np.argmin(losses)) + 1) // 10)]:
            side = (
                "in the first tenth of the points up to the lowest loss, where the smoothed "
                "loss still settles (it averages only a few batches): a fall there is noise; "
                "skip those points, as labkit.optim.lr_finder does"
            )
        else:
            side = "too small: the loss has barely started to fall there, so training would be slow"
        return f"{value:.3g} on {on} is {side}; a good pick lies between {lo:.2g} and {hi:.2g}"
    return None


# fmt: off
EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    Exercise(
        "adam_step",
        "Write `adam_step(w, g, m, v, t, lr, betas, eps) -> (w, m, v)`: one step of Adam as "
        "`torch.optim.Adam` takes it, for the weights `w`, the gradient `g`, the moving averages "
        "`m` and `v` (zeros before the first step) and the step number `t` (1 for the first "
        "step). Return new tensors: the updated weights and the updated (raw, not "
        "bias-corrected) averages.",
        _check_adam_step,
        f"passed: {sum(c[4] for c in _ADAM_CASES)} steps in {len(_ADAM_CASES)} cases match "
        "torch.optim.Adam (weights, m and v), including eps=0.1 and a zero gradient",
    ),
    Exercise(
        "momentum_step",
        "Write `momentum_step(w, g, buf, lr, momentum, nesterov) -> (w, buf)`: one step of SGD "
        "with momentum as `torch.optim.SGD(momentum=..., nesterov=...)` takes it, with the "
        "momentum buffer `buf` (zeros before the first step). Return the new weights and the "
        "new buffer.",
        _check_momentum_step,
        f"passed: {sum(len(c[1]) for c in _MOMENTUM_CASES)} steps in {len(_MOMENTUM_CASES)} "
        "cases match torch.optim.SGD (weights and buffer), plain and Nesterov, with a changing lr",
    ),
    Exercise(
        "pick_lr",
        "Write `pick_lr(lrs, losses) -> float`: given a learning-rate finder's curve (numpy "
        "arrays: the rates tried, growing exponentially, and the smoothed loss at each), return "
        "a good learning rate to train with.",
        _check_pick_lr,
        f"passed: a good pick on all {len(_CURVE_SHAPES)} generated finder curves, one with a "
        "start-up wobble",
    ),
)}
# fmt: on
