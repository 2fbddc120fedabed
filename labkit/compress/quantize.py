"""Quantization: the arithmetic made visible, then int8 the way it is deployed.

The arithmetic (`qparams`, `quantize`, `dequantize`, `fake_quant`): a real value r is
stored as an integer q with r ≈ scale · (q − zero_point). Symmetric ranges put zero at
q = 0 and use [−(2^(b−1)−1), 2^(b−1)−1] (weights); asymmetric ranges use the unsigned
[0, 2^b − 1] and a zero point, so a one-sided range (ReLU outputs) wastes no codes. Per
channel gives every output row its own scale. These follow ONNX Runtime's own formulas
(`onnxruntime.quantization.quant_utils.compute_scale_zp`), which the tests check.

Deployment: `quantize_onnx_dynamic` (weights int8 ahead of time, activations quantized on
the fly, no calibration; for MLPs and transformers) and `quantize_onnx_static` (QDQ, the
activations' ranges calibrated on real inputs, per channel optional; for CNNs) run ONNX
Runtime's quantizer after its recommended pre-processing. On the PyTorch side,
`quantize_torchao_` and quantization-aware training (`qat_prepare_`, `qat_convert_`) use
torchao; neither model exports to ONNX.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from labkit.validate import ConfigError, check_bool, check_choice, check_int

BITS = range(2, 17)  # integer widths the arithmetic supports
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
QAT_GROUP = 32  # torchao's QAT: weights share one scale per group of this many inputs


def check_bits(bits: int) -> int:
    """An integer width the arithmetic supports (2 to 16)."""
    check_int("bits", bits)
    if bits not in BITS:
        raise ConfigError(
            f"bits must be an integer from {BITS.start} to {BITS.stop - 1}; got {bits}"
        )
    return bits


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """The integer codes used: signed and symmetric around 0, or unsigned from 0."""
    check_bits(bits)
    if symmetric:
        top = 2 ** (bits - 1) - 1
        return -top, top  # -127..127 for int8: one code unused, so 0 sits in the middle
    return 0, 2**bits - 1


def qparams(
    x: torch.Tensor, *, bits: int = 8, symmetric: bool = True, per_channel: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point for `x`: one pair (0-d tensors), or one per row (axis 0) with
    `per_channel`. The range always contains 0 so that 0 is exactly representable."""
    qmin, qmax = qrange(bits, symmetric)
    x = x.detach().float()
    flat = x.reshape(len(x), -1) if per_channel else x.reshape(1, -1)
    rmin = flat.min(dim=1).values.clamp(max=0)
    rmax = flat.max(dim=1).values.clamp(min=0)
    if symmetric:
        rmax = torch.maximum(rmin.abs(), rmax)
        rmin = -rmax
    scale = (rmax - rmin) / (qmax - qmin)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # all-zero input
    if symmetric:
        zero_point = torch.zeros_like(scale, dtype=torch.int64)
    else:
        zero_point = torch.round(qmin - rmin / scale).clamp(qmin, qmax).to(torch.int64)
    if not per_channel:
        return scale[0], zero_point[0]
    return scale, zero_point


def quantize(
    x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, *, bits: int = 8,
    symmetric: bool = True,
) -> torch.Tensor:  # fmt: skip
    """Integer codes q = clamp(round(x / scale) + zero_point) (int64). Per-channel scales
    (one per row) broadcast over each row."""
    qmin, qmax = qrange(bits, symmetric)
    scale, zero_point = _per_row(scale, x), _per_row(zero_point, x)
    return (torch.round(x / scale) + zero_point).clamp(qmin, qmax).to(torch.int64)


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """Real values back from codes: scale · (q − zero_point)."""
    return _per_row(scale, q) * (q - _per_row(zero_point, q)).float()


def fake_quant(
    x: torch.Tensor, *, bits: int = 8, symmetric: bool = True, per_channel: bool = False
) -> torch.Tensor:
    """`x` rounded to its quantization grid, with a straight-through gradient: the forward
    pass sees the rounding error, the backward pass treats rounding as the identity (its
    true gradient is zero almost everywhere, which would stop training)."""
    scale, zero_point = qparams(x, bits=bits, symmetric=symmetric, per_channel=per_channel)
    q = quantize(x.detach(), scale, zero_point, bits=bits, symmetric=symmetric)
    rounded = dequantize(q, scale, zero_point)
    return x + (rounded - x).detach()


def round_trip_error(
    x: torch.Tensor, *, bits: int = 8, symmetric: bool = True, per_channel: bool = False
) -> torch.Tensor:
    """|x − dequantize(quantize(x))| elementwise: at most half a step inside the range."""
    return (fake_quant(x, bits=bits, symmetric=symmetric, per_channel=per_channel) - x).abs()


def quantize_onnx_dynamic(
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    per_channel: bool = False,
    convolutions: bool = False,
) -> Path:
    """int8 weights, activations quantized at run time from each batch's own range
    (MatMulInteger): no calibration data needed. Good for MLPs and transformers; slow for
    convolutions (ConvInteger), which this therefore leaves in fp32 unless `convolutions`
    (to measure that slowdown)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ops = ["MatMul", "Gemm", *(["Conv"] if check_bool("convolutions", convolutions) else [])]
    with _preprocessed(source) as prepared, _quiet():
        quantize_dynamic(
            prepared,
            str(target),
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=ops,
        )
    return Path(target)


def quantize_onnx_static(
    source: str | os.PathLike,
    target: str | os.PathLike,
    calibration: torch.Tensor | np.ndarray,
    *,
    per_channel: bool = True,
    method: str = "minmax",
    batch_size: int = 64,
) -> Path:
    """int8 weights and activations in QDQ form: each activation's range is measured once
    on `calibration` rows (real training inputs, (N, F)) with `method`, so no range is
    computed at run time. Per-channel weight scales keep accuracy on conv nets."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    check_choice("method", method, CALIBRATION_METHODS)
    check_int("batch_size", batch_size, minimum=1)
    rows = np.ascontiguousarray(
        calibration.numpy() if isinstance(calibration, torch.Tensor) else calibration,
        dtype=np.float32,
    )
    if rows.ndim != 2 or len(rows) == 0:
        raise ConfigError(
            f"calibration must be a non-empty batch of rows (N, F); got shape {rows.shape}"
        )

    class Reader(CalibrationDataReader):
        def __init__(self, name: str) -> None:
            self.batches = iter(
                {name: rows[i : i + batch_size]} for i in range(0, len(rows), batch_size)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    with _preprocessed(source) as prepared, _quiet():
        import onnx

        name = onnx.load(prepared).graph.input[0].name
        quantize_static(
            prepared,
            str(target),
            Reader(name),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,  # u8 activations × s8 weights: x86's fast path
            weight_type=QuantType.QInt8,
            calibrate_method=methods[method],
        )
    return Path(target)


def quantize_torchao_(model: nn.Module) -> nn.Module:
    """int8 weights and dynamically quantized int8 activations for every Linear, in place,
    with torchao (`quantize_(model, Int8DynamicActivationInt8WeightConfig())`). It runs in
    eager PyTorch (slower than fp32 there unless `torch.compile`d) and does not export to
    ONNX: use it to measure accuracy and size on the PyTorch side."""
    quantize_, configs = _torchao()
    with _torchao_quiet():
        quantize_(model, configs["int8"]())
    return model


def qat_prepare_(model: nn.Module) -> nn.Module:
    """Quantization-aware training, step 1, in place: every Linear gets fake-quantized
    int8 weights (symmetric, per group of 32) and activations (asymmetric, per row), so
    training sees the rounding and learns weights that survive it. Train as usual after.
    Every Linear's in_features must be a multiple of the group size, QAT_GROUP."""
    for name, layer in model.named_modules():
        if isinstance(layer, nn.Linear) and layer.in_features % QAT_GROUP:
            raise ConfigError(
                f"layer {name!r} has {layer.in_features} inputs: QAT quantizes weights in groups "
                f"of {QAT_GROUP}, so every Linear layer needs a multiple of {QAT_GROUP} inputs"
            )
    quantize_, configs = _torchao()
    with _torchao_quiet():
        quantize_(
            model, configs["qat"](configs["qat_base"](weight_dtype=torch.int8), step="prepare")
        )
    return model


def qat_convert_(model: nn.Module) -> nn.Module:
    """Quantization-aware training, step 2, in place: replace the fake quantization by
    real int8 weights with the same grid."""
    quantize_, configs = _torchao()
    with _torchao_quiet():
        quantize_(
            model, configs["qat"](configs["qat_base"](weight_dtype=torch.int8), step="convert")
        )
    return model


def _per_row(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # A per-channel vector (C,) broadcast against (C, ...): shape (C, 1, 1, ...).
    if t.dim() == 1:
        return t.reshape(-1, *([1] * (like.dim() - 1)))
    return t


@contextlib.contextmanager
def _preprocessed(source: str | os.PathLike) -> Iterator[str]:
    """ONNX Runtime's recommended pre-processing (shape inference, graph optimization)
    into a temporary file, removed afterwards."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not Path(source).is_file():
        raise FileNotFoundError(f"no ONNX file at {source}")
    with tempfile.TemporaryDirectory() as tmp:
        prepared = str(Path(tmp) / "prepared.onnx")
        with _quiet():
            quant_pre_process(str(source), prepared)
        yield prepared


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The quantizer logs every skipped node at INFO/WARNING; keep notebook outputs clean.
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(before)


@contextlib.contextmanager
def _torchao_quiet() -> Iterator[None]:
    # torchao logs "Failed to load …" for GPU kernels a CPU build lacks, and torch's pytree
    # warns about enums torchao registers (on import, and on a config's first use): harmless.
    noisy = [logging.getLogger(n) for n in ("torchao", "torch.utils._pytree")]
    levels = [lg.level for lg in noisy]
    for lg in noisy:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(noisy, levels, strict=True):
            lg.setLevel(level)


def _torchao() -> tuple[Any, dict[str, Any]]:
    with _torchao_quiet():
        from torchao.quantization import (
            Int8DynamicActivationInt8WeightConfig,
            Int8DynamicActivationIntxWeightConfig,
            quantize_,
        )
        from torchao.quantization.qat import QATConfig
    configs = {
        "int8": Int8DynamicActivationInt8WeightConfig,
        "qat": QATConfig,
        "qat_base": Int8DynamicActivationIntxWeightConfig,
    }
    return quantize_, configs
