"""Notebook 08 (quantization): `scale_zero_point` and `fake_quant_ste`.

`scale_zero_point(rmin, rmax, bits, symmetric)` is graded against `labkit.compress.quantize`
(whose formulas are ONNX Runtime's `compute_scale_zp`) on ranges of both signs, one-sided
ranges (ReLU outputs, all-negative values), an all-zero range, and 2, 4 and 8 bits. When it is
wrong the checker looks for the common mistake it matches (a range that does not contain 0,
2^b levels instead of 2^b − 1 steps, int8's −128..127 for the symmetric range, the zero point
with the wrong sign or not rounded, a zero scale for an all-zero range, ONNX Runtime's
(zero_point, scale) order) and returns its hint.

`fake_quant_ste(x, scale, zero_point, qmin, qmax)` is graded on its values (the rounded,
clamped, dequantized x) and on its gradient: the straight-through estimator passes the
upstream gradient unchanged to every element inside the range (for clamped elements, 1 or
0 are both accepted: labkit passes it, torch's `fake_quantize_*` stops it). Mistakes
diagnosed: no straight-through gradient (round's gradient is 0), an output cut off from the
graph, the codes returned instead of values, no clamp, the zero point forgotten or with the
wrong sign, truncation instead of rounding. Exposed as `EXERCISES`, which `labkit.exercises`
merges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from labkit.compress import quantize as q
from labkit.exercises.core import Exercise, Wrong, array, call

# ---- scale_zero_point ----------------------------------------------------------------------


def _scale_zero_point(
    rmin: float, rmax: float, bits: int, symmetric: bool, *, mistake: str = ""
) -> tuple[float, float]:
    """Reference (mistake=''): labkit's qparams on the range [rmin, rmax]. The mistakes
    replay wrong answers."""
    if mistake != "no zero":
        rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    qmin, qmax = q.qrange(bits, symmetric)
    if symmetric and mistake == "int8 -128":
        qmin = -(2 ** (bits - 1))
    if symmetric:
        rmax = max(abs(rmin), abs(rmax))
        rmin = -rmax
    steps = qmax - qmin
    if mistake == "2^b levels":
        steps = 2**bits
    if symmetric and mistake == "max/2^(b-1)":
        steps = 2**bits  # max|r| / 2^(b−1), i.e. 2·max|r| / 2^b
    scale = (rmax - rmin) / steps
    if scale <= 0:  # an all-zero range: any positive scale stores it exactly
        scale = 1.0
    if symmetric:
        return scale, 0
    if mistake == "zp sign raw":
        return scale, round(qmin + rmin / scale)
    if mistake == "zp sign":
        return scale, min(max(round(qmin + rmin / scale), qmin), qmax)
    if mistake == "zp not rounded":
        return scale, min(max(qmin - rmin / scale, qmin), qmax)
    zero_point = min(max(round(qmin - rmin / scale), qmin), qmax)
    return scale, zero_point


_RANGES = (  # (rmin, rmax, bits, symmetric, how the hint names it)
    (-0.62, 1.3, 8, True, "rmin=-0.62, rmax=1.3, 8 bits, symmetric"),
    (-0.62, 1.3, 8, False, "rmin=-0.62, rmax=1.3, 8 bits, asymmetric"),
    (-2.5, 0.7, 4, True, "rmin=-2.5, rmax=0.7, 4 bits, symmetric"),
    (-2.5, 0.7, 4, False, "rmin=-2.5, rmax=0.7, 4 bits, asymmetric"),
    (0.5, 6.0, 8, False, "rmin=0.5, rmax=6.0 (a one-sided range, like ReLU outputs), 8 bits, "
                         "asymmetric"),
    (0.5, 6.0, 8, True, "rmin=0.5, rmax=6.0 (one-sided), 8 bits, symmetric"),
    (-3.0, -1.0, 8, False, "rmin=-3.0, rmax=-1.0 (all negative), 8 bits, asymmetric"),
    (-1.0, 1.0, 2, True, "rmin=-1.0, rmax=1.0, 2 bits, symmetric"),
    (-0.3, 0.9, 2, False, "rmin=-0.3, rmax=0.9, 2 bits, asymmetric"),
    (0.0, 0.0, 8, False, "rmin=rmax=0 (an all-zero tensor), 8 bits, asymmetric"),
    (0.0, 0.0, 8, True, "rmin=rmax=0 (an all-zero tensor), 8 bits, symmetric"),
)  # fmt: skip

_ZP_MISTAKES = (  # checked in this order: the first that replays every case gives the hint
    (
        "no zero",
        "the range must contain 0, so that 0 (padding, every ReLU zero) is stored exactly: "
        "widen it first with rmin = min(rmin, 0) and rmax = max(rmax, 0)",
    ),
    (
        "2^b levels",
        "b bits give 2^b codes but only qmax − qmin steps between the two ends (255 for 0..255, "
        "254 for −127..127): scale = (rmax − rmin) / (qmax − qmin), not / 2^b",
    ),
    (
        "int8 -128",
        "the symmetric range leaves out the lowest code: −127..127 for 8 bits (−(2^(b−1) − 1) "
        "to 2^(b−1) − 1, as ONNX Runtime and labkit use), so 0 sits in the middle; with "
        "−128..127 the scale is max|r|·2/255 instead of max|r|/127",
    ),
    (
        "max/2^(b-1)",
        "symmetric codes run from −(2^(b−1) − 1) to 2^(b−1) − 1: the scale is max|r| / "
        "(2^(b−1) − 1) (max|r|/127 for 8 bits), not max|r| / 2^(b−1)",
    ),
    *(
        (
            mistake,
            "the zero point is the code that stands for 0: 0 = scale·(zp − qmin) + rmin gives "
            "zp = qmin − rmin/scale (a positive code for a range below and above 0), not "
            "qmin + rmin/scale",
        )
        for mistake in ("zp sign", "zp sign raw")  # kept within the codes or not
    ),
    (
        "zp not rounded",
        "round the zero point to an integer (and keep it within [qmin, qmax]): it is a code, "
        "and only an integer zero point makes the real value 0 exact",
    ),
)


_WHY = {
    ZeroDivisionError: "an empty range (rmin = rmax = 0) has rmax − rmin = 0, so the scale "
    "would be 0; use scale 1 there (every value is 0, any positive scale stores it exactly)"
}


def _pair(out: Any) -> tuple[float, float] | None:
    if isinstance(out, (str, bytes, dict)) or not isinstance(out, Iterable):
        return None
    items = list(out)
    if len(items) != 2:
        return None
    numbers = [array(v) for v in items]
    if any(v is None or v.size != 1 for v in numbers):
        return None
    return tuple(float(v.reshape(())) for v in numbers)  # type: ignore[return-value]


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    (sa, za), (sb, zb) = a, b
    if any(math.isnan(v) for v in (sa, za, sb, zb)):
        return all(math.isnan(x) == math.isnan(y) for x, y in ((sa, sb), (za, zb))) and (
            math.isnan(sa) or math.isclose(sa, sb, rel_tol=1e-5)
        )
    return math.isclose(sa, sb, rel_tol=1e-5, abs_tol=1e-12) and abs(za - zb) < 1e-6


def _check_scale_zero_point(fn: Any) -> str | None:
    outs = []
    for rmin, rmax, bits, symmetric, on in _RANGES:
        out = call(fn, rmin, rmax, bits, symmetric, on=on, why=_WHY)
        got = _pair(out)
        if got is None:
            return f"return two numbers, (scale, zero_point); got {out!r} for {on}"
        outs.append(got)
    expected = [_scale_zero_point(*case[:4]) for case in _RANGES]
    if all(_same(o, e) for o, e in zip(outs, expected, strict=True)):
        return None
    if all(_same((o[1], o[0]), e) for o, e in zip(outs, expected, strict=True)):
        return (
            "you returned (zero_point, scale), the order of ONNX Runtime's compute_scale_zp; "
            "this exercise asks for (scale, zero_point)"
        )
    for mistake, hint in _ZP_MISTAKES:
        if all(
            _same(o, _scale_zero_point(*case[:4], mistake=mistake))
            for o, case in zip(outs, _RANGES, strict=True)
        ):
            return hint
    for (scale, zero_point), want, case in zip(outs, expected, _RANGES, strict=True):
        on = case[4]
        if case[0] == case[1] == 0 and not (math.isfinite(scale) and scale > 0):
            return (
                f"for {on} your scale is {scale!r}: with nothing to represent, the range is "
                "empty and (rmax − rmin)/(qmax − qmin) is 0; use scale 1 (any positive "
                "number works, as every value is 0) so nothing divides by 0"
            )
        if not math.isclose(scale, want[0], rel_tol=1e-5, abs_tol=1e-12):
            return f"for {on} the scale is {want[0]:.6g}; you returned {scale:.6g}"
        if abs(zero_point - want[1]) > 1e-6:
            return f"for {on} the zero point is {want[1]}; you returned {zero_point:g}"
    return None


# ---- fake_quant_ste ------------------------------------------------------------------------


def _fake_quant_ste(
    x: torch.Tensor, scale: float, zero_point: int, qmin: int, qmax: int
) -> torch.Tensor:
    """Reference: the rounded, clamped, dequantized x; the gradient passes straight through."""
    codes = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    rounded = scale * (codes - zero_point)
    return x + (rounded - x).detach()


def _ste_cases() -> list[tuple[torch.Tensor, float, int, int, int, str]]:
    """(x, scale, zero_point, qmin, qmax, description): symmetric and asymmetric grids, values
    beyond the range (clamped), exact ties and values between codes."""
    g = torch.Generator().manual_seed(8)
    cases = []
    for scale, zero_point, qmin, qmax, spread, on in (
        (0.05, 0, -127, 127, 2.0, "scale 0.05, zero point 0, codes −127..127 (int8, symmetric)"),
        (0.1, 20, 0, 255, 3.0, "scale 0.1, zero point 20, codes 0..255 (uint8, asymmetric)"),
        (0.5, 0, -1, 1, 1.0, "scale 0.5, zero point 0, codes −1..1 (2 bits, symmetric): some "
                             "values lie beyond the range and are clamped"),
        (0.25, 3, 0, 15, 2.5, "scale 0.25, zero point 3, codes 0..15 (4 bits): some values lie "
                              "beyond the range"),
    ):  # fmt: skip
        x = (torch.rand(40, generator=g, dtype=torch.float64) * 2 - 1) * spread
        x[:3] = torch.tensor([0.0, 0.37 * scale, -1.3 * scale], dtype=torch.float64)
        cases.append((x, scale, zero_point, qmin, qmax, on))
    return cases


def _replay(
    mistake: str, x: torch.Tensor, scale: float, zero_point: int, qmin: int, qmax: int
) -> torch.Tensor:
    """The values a wrong answer returns."""
    if mistake == "codes":
        return torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    if mistake == "no clamp":
        return scale * torch.round(x / scale)
    if mistake == "no zero point":
        return scale * torch.clamp(torch.round(x / scale), qmin, qmax)
    if mistake == "zp sign":
        return scale * (torch.clamp(torch.round(x / scale) - zero_point, qmin, qmax) + zero_point)
    if mistake == "trunc":
        return scale * (torch.clamp(torch.trunc(x / scale) + zero_point, qmin, qmax) - zero_point)
    if mistake == "floor":
        return scale * (torch.clamp(torch.floor(x / scale) + zero_point, qmin, qmax) - zero_point)
    return _fake_quant_ste(x, scale, zero_point, qmin, qmax).detach()


_VALUE_MISTAKES = (
    (
        "codes",
        "you returned the integer codes q; fake quantization returns the values the next layer "
        "would see, scale·(q − zero_point), so training sees the rounding error in real units",
    ),
    (
        "no clamp",
        "clamp the codes to [qmin, qmax] before dequantizing: values beyond the range must "
        "saturate at the end codes, as they would when stored in b bits",
    ),
    (
        "no zero point",
        "the zero point is missing: q = clamp(round(x/scale) + zero_point, qmin, qmax), then "
        "the value is scale·(q − zero_point)",
    ),
    (
        "zp sign",
        "the zero point has the wrong sign: add it when quantizing, q = round(x/scale) + "
        "zero_point, and subtract it when dequantizing, scale·(q − zero_point)",
    ),
    (
        "trunc",
        "round to the nearest code (torch.round): int()/trunc cuts toward zero, which doubles "
        "the worst error (a whole step instead of half) and biases every value toward 0",
    ),
    (
        "floor",
        "round to the nearest code (torch.round): floor moves every value down, doubling the "
        "worst error (a whole step instead of half) and shifting the mean",
    ),
)


def _check_fake_quant_ste(fn: Any) -> str | None:
    cases = _ste_cases()
    for x, scale, zero_point, qmin, qmax, on in cases:
        leaf = x.clone().requires_grad_()
        out = call(fn, leaf, scale, zero_point, qmin, qmax, on=on)
        if not torch.is_tensor(out):
            return (
                f"return a torch tensor (the fake-quantized x), not {type(out).__name__}: the "
                "gradient has to flow back through it"
            )
        if out.shape != x.shape:
            return f"for {on} your output has shape {tuple(out.shape)}; expected {tuple(x.shape)}"
        got = out.detach().to(torch.float64)
        want = _replay("", x, scale, zero_point, qmin, qmax)
        if not torch.allclose(got, want, rtol=1e-5, atol=1e-6 * scale):
            for mistake, hint in _VALUE_MISTAKES:
                replay = _replay(mistake, x, scale, zero_point, qmin, qmax)
                if torch.allclose(got, replay, rtol=1e-5, atol=1e-6 * scale):
                    return hint
            i = int((got - want).abs().argmax())
            return (
                f"for {on}: x = {x[i].item():.6g} should come out as {want[i].item():.6g} "
                f"(its code {round(want[i].item() / scale) + zero_point}); you returned "
                f"{got[i].item():.6g}"
            )
        if not out.requires_grad:
            return (
                "your output is cut off from the graph (no gradient can reach x): a detach(), "
                ".item() or numpy round trip on the whole result stops training; detach only the "
                "rounding correction: x + (rounded − x).detach()"
            )
        upstream = torch.linspace(0.5, 2.0, len(x), dtype=out.dtype)
        try:
            (grad,) = torch.autograd.grad(out, leaf, upstream, allow_unused=True)
        except RuntimeError as e:
            raise Wrong(f"the gradient could not flow back through your output ({e})") from None
        if grad is None or torch.count_nonzero(grad) == 0:
            return (
                "the gradient through your function is 0 everywhere: round's derivative is 0 "
                "almost everywhere, so training would stop. The straight-through estimator "
                "treats rounding as the identity on the way back: return x + (rounded − x)."
                "detach()"
            )
        codes = torch.round(x / scale) + zero_point
        inside = (codes >= qmin) & (codes <= qmax)
        expected = upstream.to(torch.float64)
        grad = grad.to(torch.float64)
        if not torch.allclose(grad[inside], expected[inside], rtol=1e-5):
            return (
                f"for {on} the gradient inside the range should pass through unchanged (the "
                "upstream gradient itself); yours differs, e.g. "
                f"{grad[inside][0].item():.4g} for an upstream {expected[inside][0].item():.4g}"
            )
        outside = grad[~inside]
        ok = torch.isclose(outside, expected[~inside]) | (outside == 0)
        if not bool(ok.all()):
            return (
                f"for {on}, where values are clamped the gradient should either pass through "
                "(labkit's choice) or be 0 (torch's fake_quantize); yours is neither"
            )
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "scale_zero_point",
            "Write `scale_zero_point(rmin, rmax, bits, symmetric)`: the scale and zero point that "
            "map the real range [rmin, rmax] onto b-bit integer codes, returned as (scale, "
            "zero_point). Widen the range to contain 0 first. Symmetric: codes −(2^(b−1) − 1) "
            "to 2^(b−1) − 1, the range ±max(|rmin|, |rmax|), zero point 0. Asymmetric: codes 0 "
            "to 2^b − 1, zero point round(qmin − rmin/scale) kept within the codes. In both, "
            "scale = (rmax − rmin) / (qmax − qmin), and 1 when the range is empty.",
            _check_scale_zero_point,
            f"passed on {len(_RANGES)} ranges (2, 4 and 8 bits, one-sided, all-zero): the "
            "numbers ONNX Runtime computes",
        ),
        Exercise(
            "fake_quant_ste",
            "Write `fake_quant_ste(x, scale, zero_point, qmin, qmax)`: x (a float tensor) "
            "rounded to its integer grid and back, q = clamp(round(x/scale) + zero_point, "
            "qmin, qmax) and the value scale·(q − zero_point), with a straight-through "
            "gradient: the backward pass treats the rounding as the identity.",
            _check_fake_quant_ste,
            f"passed on {len(_ste_cases())} grids (int8, uint8 with a zero point, 2 and 4 bits "
            "with clamped values): the values and a gradient that passes straight through",
        ),
    )
}
