"""Notebook 08's exercises: the references pass (and agree with ONNX Runtime), placeholders
are "not attempted", and each diagnosed mistake gets its own hint."""

import math

import numpy as np
import pytest
import torch
from exercise_checks import assert_wrong
from onnxruntime.quantization.quant_utils import compute_scale_zp

from labkit.compress import quantize as q
from labkit.exercises import check
from labkit.exercises import quantization as ex

# ---- scale_zero_point ----------------------------------------------------------------------


def scale_zero_point(rmin, rmax, bits, symmetric, *, zero=True, levels=None, low=None,
                     zp_sign=1, zp_round=True, order=1, empty=1.0):  # fmt: skip
    if zero:
        rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    if symmetric:
        top = 2 ** (bits - 1) - 1
        qmin, qmax = (-top if low is None else low(bits)), top
        rmax = max(-rmin, rmax)
        rmin = -rmax
    else:
        qmin, qmax = 0, 2**bits - 1
    steps = (qmax - qmin) if levels is None else levels(bits)
    scale = (rmax - rmin) / steps
    if scale == 0:
        scale = empty
    if symmetric:
        zp = 0
    else:
        zp = qmin - zp_sign * rmin / scale
        if zp_round:
            zp = min(max(round(zp), qmin), qmax)
    return (scale, zp)[::order]


def with_labkit(rmin, rmax, bits, symmetric):
    scale, zp = q.qparams(torch.tensor([rmin, rmax]), bits=bits, symmetric=symmetric)
    return scale, zp  # 0-d tensors


def with_onnx_runtime(rmin, rmax, bits, symmetric):
    qmin, qmax = q.qrange(bits, symmetric)
    zp, scale = compute_scale_zp(np.float32(rmin), np.float32(rmax), np.array(qmin),
                                 np.array(qmax), symmetric)  # fmt: skip
    return float(scale), int(zp)


@pytest.mark.parametrize(
    "answer",
    [scale_zero_point, with_labkit, with_onnx_runtime, lambda *a: list(scale_zero_point(*a))],
)
def test_scale_zero_point_accepts_every_correct_answer(answer):
    result = check("scale_zero_point", answer)
    assert result.passed and "11 ranges" in result.message, result


def test_the_reference_is_onnx_runtimes_formula():
    for rmin, rmax, bits, symmetric, _ in ex._RANGES:
        ours = ex._scale_zero_point(rmin, rmax, bits, symmetric)
        theirs = with_onnx_runtime(rmin, rmax, bits, symmetric)
        assert math.isclose(ours[0], theirs[0], rel_tol=1e-6) and ours[1] == theirs[1]


def divide_by_zero(rmin, rmax, bits, symmetric):
    rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    qmin, qmax = q.qrange(bits, symmetric)
    if symmetric:
        return max(-rmin, rmax) / qmax, 0
    scale = (rmax - rmin) / (qmax - qmin)
    return scale, round(qmin - rmin / scale)  # ZeroDivisionError on the all-zero range


def symmetric_over_a_power_of_two(rmin, rmax, bits, symmetric):  # max|r| / 128 for int8
    return scale_zero_point(
        rmin, rmax, bits, symmetric, levels=(lambda b: 2**b) if symmetric else None
    )


def unclamped_negative_zero_point(rmin, rmax, bits, symmetric):
    scale, _ = scale_zero_point(rmin, rmax, bits, symmetric)
    return scale, 0 if symmetric else round(min(rmin, 0.0) / scale)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda *a: scale_zero_point(*a, zero=False), "the range must contain 0"),
        (lambda *a: scale_zero_point(*a, levels=lambda b: 2**b), "not / 2^b"),
        (lambda *a: scale_zero_point(*a, low=lambda b: -(2 ** (b - 1))), "−127..127 for 8 bits"),
        (symmetric_over_a_power_of_two, "max|r| / (2^(b−1) − 1)"),
        (lambda *a: scale_zero_point(*a, zp_sign=-1), "zp = qmin − rmin/scale"),
        (unclamped_negative_zero_point, "zp = qmin − rmin/scale"),
        (lambda *a: scale_zero_point(*a, zp_round=False), "round the zero point to an integer"),
        (lambda *a: scale_zero_point(*a, order=-1), "the order of ONNX Runtime's compute_scale_zp"),
        (lambda *a: scale_zero_point(*a, empty=0.0), "use scale 1"),
        (divide_by_zero, "raised ZeroDivisionError"),
        (lambda *a: scale_zero_point(*a)[0], "return two numbers, (scale, zero_point)"),
        (lambda r0, r1, b, s: ((r1 - r0) / 255, 0), "for rmin=-0.62, rmax=1.3, 8 bits, symmetric"),
    ],
)  # fmt: skip
def test_scale_zero_point_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("scale_zero_point", answer), hint)


def test_scale_zero_point_placeholder_is_not_attempted():
    def placeholder(rmin, rmax, bits, symmetric):
        raise NotImplementedError

    assert check("scale_zero_point", placeholder).status == "not attempted"


# ---- fake_quant_ste ------------------------------------------------------------------------


def fake_quant_ste(x, scale, zero_point, qmin, qmax):
    codes = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    return x + (scale * (codes - zero_point) - x).detach()


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def with_autograd_function(x, scale, zero_point, qmin, qmax):
    return scale * (torch.clamp(RoundSTE.apply(x / scale) + zero_point, qmin, qmax) - zero_point)


def with_torch(x, scale, zero_point, qmin, qmax):  # stops the gradient where it clamps
    return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, qmin, qmax)


def in_float32(x, scale, zero_point, qmin, qmax):
    return fake_quant_ste(x.float(), scale, zero_point, qmin, qmax)


@pytest.mark.parametrize("answer", [fake_quant_ste, with_autograd_function, with_torch, in_float32])
def test_fake_quant_ste_accepts_every_correct_answer(answer):
    result = check("fake_quant_ste", answer)
    assert result.passed and "4 grids" in result.message, result


def wrong(values):
    """An answer whose values come from `values(x, ...)`, with a straight-through gradient."""

    def answer(x, scale, zero_point, qmin, qmax):
        return x + (values(x, scale, zero_point, qmin, qmax) - x).detach()

    return answer


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (
            lambda x, s, z, a, b: s * (torch.clamp(torch.round(x / s) + z, a, b) - z),
            "the gradient through your function is 0 everywhere",
        ),
        (lambda *args: fake_quant_ste(*args).detach(), "cut off from the graph"),
        (
            lambda x, s, z, a, b: torch.tensor(fake_quant_ste(x, s, z, a, b).tolist()),
            "cut off from the graph",
        ),
        (wrong(lambda x, s, z, a, b: torch.clamp(torch.round(x / s) + z, a, b)), "integer codes"),
        (wrong(lambda x, s, z, a, b: s * torch.round(x / s)), "clamp the codes to [qmin, qmax]"),
        (
            wrong(lambda x, s, z, a, b: s * torch.clamp(torch.round(x / s), a, b)),
            "the zero point is missing",
        ),
        (
            wrong(lambda x, s, z, a, b: s * (torch.clamp(torch.round(x / s) - z, a, b) + z)),
            "the zero point has the wrong sign",
        ),
        (
            wrong(lambda x, s, z, a, b: s * (torch.clamp(torch.trunc(x / s) + z, a, b) - z)),
            "int()/trunc cuts toward zero",
        ),
        (
            wrong(lambda x, s, z, a, b: s * (torch.clamp(torch.floor(x / s) + z, a, b) - z)),
            "floor moves every value down",
        ),
        (lambda *args: 2 * fake_quant_ste(*args), "should come out as"),
        (lambda *args: fake_quant_ste(*args).detach().numpy(), "return a torch tensor"),
        (lambda *args: fake_quant_ste(*args)[:-1], "your output has shape"),
        (
            lambda *args: fake_quant_ste(*args) + 0.5 * (args[0] - args[0].detach()),
            "the gradient inside the range should pass through unchanged",
        ),
        (lambda x, *a: x.numpy(), "raised"),
    ],
)
def test_fake_quant_ste_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("fake_quant_ste", answer), hint)


def test_fake_quant_ste_placeholder_is_not_attempted():
    def placeholder(x, scale, zero_point, qmin, qmax):
        raise NotImplementedError

    assert check("fake_quant_ste", placeholder).status == "not attempted"
