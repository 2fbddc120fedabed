"""Export a trained model to ONNX and run it with ONNX Runtime, parity-gated.

`export_onnx` writes one self-contained file (the dynamo exporter, weights inside, a
dynamic batch axis, inputs named `inputs` and outputs `logits`, labkit's metadata), checks
it with `onnx.checker`, and refuses to leave a file behind whose answers differ from
PyTorch's: the parity gate runs ONNX Runtime and the model on fresh inputs at several batch
sizes. `ort_session` opens a file with explicit threads and graph optimization level, and
`ort_predictor` turns a session into a function of a batch, for `labkit.bench.latency`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from labkit.validate import ConfigError, check_choice, check_int

INPUT, OUTPUT = "inputs", "logits"
PARITY_BATCHES = (1, 7, 64)  # batch sizes the parity gate tries: one row, odd, large
OPT_LEVELS = ("disable", "basic", "extended", "all")  # ONNX Runtime graph optimization levels


class ParityError(RuntimeError):
    """An exported model answers differently from the PyTorch model it came from."""


@dataclass(frozen=True)
class Parity:
    """How closely ONNX Runtime reproduces PyTorch on fresh inputs."""

    max_abs_diff: float  # largest |ONNX Runtime - PyTorch| over every output
    top1_agreement: float  # fraction of rows whose argmax agrees
    batches: tuple[int, ...]  # batch sizes compared


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Silence the exporter's progress lines and harmless warnings (torchvision not
    installed, a LeafSpec FutureWarning), so notebook outputs show only what matters."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_onnx(
    model: nn.Module,
    example: torch.Tensor,
    path: str | os.PathLike,
    *,
    metadata: dict[str, Any] | None = None,
    atol: float = 1e-4,
    check_batches: Sequence[int] = PARITY_BATCHES,
) -> Path:
    """Export `model` (in eval mode) to one ONNX file at `path` with a dynamic batch axis.

    `example` is one batch of inputs (B, F): its feature count fixes the input shape.
    `metadata` (JSON-serialisable values) is stored in the file's metadata properties beside
    labkit's own (version, input shape). The file is checked with `onnx.checker` and kept
    only if ONNX Runtime matches PyTorch within `atol` at each of `check_batches`; otherwise
    it is deleted and `ParityError` says by how much they differ.
    """
    import onnx

    _check_export_args(model, example, path)
    path = Path(path)
    if len(example) < 2:  # a batch of one would be specialised to 1, not left dynamic
        example = example.expand(2, -1)
    with quiet_exporter():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            external_data=False,  # one file: the weights inside, no `.onnx.data` beside it
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=({0: "batch"},),
        )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    info = {"labkit_version": _labkit_version(), "input_shape": ["batch", example.shape[1]]}
    for key, value in {**info, **(metadata or {})}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, str(path))
    try:
        check_parity(model, path, example.shape[1], atol=atol, batches=check_batches)
    except ParityError:
        path.unlink()
        raise
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata properties `export_onnx` stored, decoded from JSON."""
    session = ort_session(path)
    stored = session.get_modelmeta().custom_metadata_map
    return {key: json.loads(value) for key, value in stored.items()}


def check_parity(
    model: nn.Module,
    path: str | os.PathLike,
    features: int,
    *,
    atol: float = 1e-4,
    min_agreement: float | None = None,
    batches: Sequence[int] = PARITY_BATCHES,
    inputs: torch.Tensor | None = None,
    seed: int = 0,
) -> Parity:
    """Compare ONNX Runtime on `path` with `model` on fresh random inputs at each batch size
    (or on `inputs`, e.g. real validation rows). Raises `ParityError` when the largest
    difference exceeds `atol` (fp32 files), or, with `min_agreement` (int8 files, whose
    outputs move by design), when the top-1 agreement falls below it."""
    session = ort_session(path)
    run = ort_predictor(session)
    if inputs is None:
        g = torch.Generator().manual_seed(seed)
        xs = [torch.randn(b, features, generator=g) for b in batches]
    else:
        xs, batches = [inputs], (len(inputs),)
    model.eval()
    diffs, agree, rows = [], 0, 0
    with torch.inference_mode():
        for x in xs:
            expected = model(x).numpy()
            got = run(x.numpy())
            diffs.append(float(np.abs(got - expected).max()))
            agree += int((got.argmax(1) == expected.argmax(1)).sum())
            rows += len(x)
    parity = Parity(max(diffs), agree / rows, tuple(batches))
    if min_agreement is None and parity.max_abs_diff > atol:
        raise ParityError(
            f"{path}: ONNX Runtime differs from PyTorch by up to {parity.max_abs_diff:.3g} "
            f"(tolerance atol={atol:g}) at batch sizes {list(batches)}"
        )
    if min_agreement is not None and parity.top1_agreement < min_agreement:
        raise ParityError(
            f"{path}: ONNX Runtime agrees with PyTorch's top-1 class on only "
            f"{parity.top1_agreement:.1%} of rows (min_agreement={min_agreement:g})"
        )
    return parity


def ort_session(
    path: str | os.PathLike,
    *,
    threads: int | None = None,
    optimization: str = "all",
    providers: Sequence[str] | None = None,
) -> Any:
    """An ONNX Runtime `InferenceSession` for `path` with `threads` intra-op threads (None:
    ONNX Runtime's choice) and a graph optimization level from OPT_LEVELS. Providers default
    to CUDA when this onnxruntime build has it, else CPU."""
    import onnxruntime as ort

    check_choice("optimization", optimization, OPT_LEVELS)
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    if threads is not None:
        options.intra_op_num_threads = check_int("threads", threads, minimum=1)
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    if providers is None:
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    return ort.InferenceSession(str(path), options, providers=list(providers))


def ort_predictor(session: Any) -> Callable[[Any], np.ndarray]:
    """A function of one batch (array or tensor, (B, F)) returning the first output."""
    name = session.get_inputs()[0].name

    def run(x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.numpy()
        return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    return run


def _check_export_args(model: nn.Module, example: Any, path: str | os.PathLike) -> None:
    # Fail before the exporter's long traceback, with the fix.
    if model.training:
        raise ConfigError("call model.eval() before exporting: dropout would be exported on")
    if not isinstance(example, torch.Tensor) or example.dim() != 2 or len(example) < 1:
        shape = tuple(example.shape) if isinstance(example, torch.Tensor) else type(example)
        raise ConfigError(f"example must be one batch of rows, shape (B, F); got {shape}")
    expected = getattr(model, "hparams", {}).get("in_features")
    if expected is None and "image_size" in getattr(model, "hparams", {}):
        expected = model.hparams["image_size"] ** 2
    if expected is not None and example.shape[1] != expected:
        raise ConfigError(
            f"example has {example.shape[1]} features per row; "
            f"{type(model).__name__} takes {expected}"
        )
    folder = Path(path).parent
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist; create it first")


def _labkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labkit")
    except PackageNotFoundError:
        return "0.0.0+unknown"
