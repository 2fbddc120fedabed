"""Export a trained model to ONNX and run it with ONNX Runtime, parity-gated.

`export_onnx` writes one self-contained file (the dynamo exporter, weights inside, a
dynamic batch axis, inputs named `inputs` and outputs `logits`, labkit's metadata), checks
it with `onnx.checker`, and refuses to leave a file behind whose answers differ from
PyTorch's: the parity gate runs ONNX Runtime and the model on fresh inputs at several batch
sizes. `ort_session` opens a file with explicit threads and graph optimization level, and
`ort_predictor` turns a session into a function of a batch (both live in the torch-free
`labkit.runtime`, which a server imports, and are re-exported here).
`data_metadata` gives what a server needs besides the file (class names, the standardization
statistics), to store with `export_onnx(..., metadata=...)` and read back with `read_metadata`.

`export_litert` writes the same model as a LiteRT (TensorFlow Lite) flatbuffer with
litert-torch, for phones and microcontrollers, behind the same parity gate, optionally with
dynamic-range int8 weights; `litert_predictor` runs it with ai-edge-litert's interpreter.
Both come with the optional extra `labkit[litert]`.
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

from labkit.data import Data
from labkit.runtime import OPT_LEVELS as OPT_LEVELS
from labkit.runtime import ort_predictor, ort_session
from labkit.runtime import read_metadata as read_metadata
from labkit.validate import ConfigError, check_choice, check_int

INPUT, OUTPUT = "inputs", "logits"
LITERT_QUANTIZATION = ("none", "dynamic_int8")  # int8 weights, activations at run time
LITERT_MISSING = (
    "LiteRT export needs the optional extra labkit[litert] (litert-torch and ai-edge-litert): "
    "pip install 'labkit[litert]', or pip install litert-torch ai-edge-litert"
)
PARITY_BATCHES = (1, 7, 64)  # batch sizes the parity gate tries: one row, odd, large


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
    names = ("torch.onnx", "torch.export", "torch._export", "torchao", "torch.utils._pytree")
    loggers = [logging.getLogger(n) for n in names]
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


def data_metadata(data: Data, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """What a served model needs besides its file: the class names (the labels' digits as
    text unless `class_names` names them) and the per-feature mean and std the inputs were
    standardized with, so a server computes (raw − mean) / std before calling the model.
    JSON-serialisable, for `export_onnx(..., metadata=data_metadata(data))`."""
    names = [str(c) for c in range(data.classes)] if class_names is None else list(class_names)
    if len(names) != data.classes or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"class_names must be {data.classes} strings; got {class_names!r}")
    return {
        "classes": names,
        "mean": [float(v) for v in data.mean.flatten()],
        "std": [float(v) for v in data.std.flatten()],
    }


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
    """Compare the exported file at `path` (ONNX Runtime for `.onnx`, the LiteRT interpreter
    for `.tflite`) with `model` on fresh random inputs at each batch size (or on `inputs`,
    e.g. real validation rows). Raises `ParityError` when the largest difference exceeds
    `atol` (fp32 files), or, with `min_agreement` (int8 files, whose outputs move by
    design), when the top-1 agreement falls below it."""
    if Path(path).suffix == ".tflite":
        run, runtime = litert_predictor(path), "the LiteRT interpreter"
    else:
        run, runtime = ort_predictor(ort_session(path)), "ONNX Runtime"
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
            f"{path}: {runtime} differs from PyTorch by up to {parity.max_abs_diff:.3g} "
            f"(tolerance atol={atol:g}) at batch sizes {list(batches)}"
        )
    if min_agreement is not None and parity.top1_agreement < min_agreement:
        raise ParityError(
            f"{path}: {runtime} agrees with PyTorch's top-1 class on only "
            f"{parity.top1_agreement:.1%} of rows (min_agreement={min_agreement:g})"
        )
    return parity


def export_litert(
    model: nn.Module,
    example: torch.Tensor,
    path: str | os.PathLike,
    *,
    quantization: str = "none",
    atol: float = 1e-4,
    min_agreement: float = 0.97,
    check_batches: Sequence[int] = PARITY_BATCHES,
    check_inputs: torch.Tensor | None = None,
) -> Path:
    """Convert `model` (in eval mode) to a LiteRT flatbuffer at `path` (`.tflite`) with
    litert-torch, no TensorFlow needed. The graph is traced at the example's batch size; the
    interpreter resizes an MLP to any other batch, but not a conv net, whose reshape is fixed
    (pass an example of the batch you will run and `check_batches=(that batch,)`).
    `quantization='dynamic_int8'` stores the weights as int8 per channel (about 4x smaller),
    activations quantized at run time. Kept only if the interpreter matches PyTorch: within
    `atol` (fp32), or in top-1 class on at least `min_agreement` of the rows (int8), at each
    of `check_batches` (or on `check_inputs`, real rows: an int8 model's near-ties on random
    inputs say little about the inputs it will serve); otherwise deleted, and `ParityError`
    (or ValueError: a batch size the file cannot run)."""
    check_choice("quantization", quantization, LITERT_QUANTIZATION)
    _check_export_args(model, example, path)
    if Path(path).suffix != ".tflite":
        raise ConfigError(f"a LiteRT file ends in .tflite; got {Path(path).name!r}")
    # Its progress lines go through rich, which in Jupyter displays them past any redirect.
    with quiet_exporter(), _quiet_native_output(), _environ(LITERT_TORCH_SHOW_PROGRESS="n"):
        litert_torch = _require_litert()  # its import logs about GPU kernels a CPU lacks
        config = None
        if quantization == "dynamic_int8":
            from litert_torch.generative.quantize import quant_recipes

            config = quant_recipes.full_dynamic_recipe()
        converted = litert_torch.convert(model, (example,), quant_config=config)
        converted.export(str(path))
    try:
        gate = {"min_agreement": min_agreement} if quantization != "none" else {"atol": atol}
        check_parity(model, path, example.shape[1], batches=check_batches, inputs=check_inputs,
                     **gate)  # fmt: skip
    except (ParityError, ValueError):
        Path(path).unlink()
        raise
    return Path(path)


def litert_predictor(path: str | os.PathLike, *, threads: int | None = None) -> Callable:
    """A function of one batch (array or tensor, (B, F)) that runs the `.tflite` file at
    `path` with ai-edge-litert's interpreter, resizing the input to each new batch size."""
    _require_litert()
    from ai_edge_litert.interpreter import Interpreter

    if not Path(path).is_file():
        raise FileNotFoundError(f"no LiteRT file at {path}")
    if threads is not None:
        check_int("threads", threads, minimum=1)
    with _quiet_native_output():
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    shape = [int(d) for d in interpreter.get_input_details()[0]["shape"]]

    def run(x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if list(x.shape) != shape:
            interpreter.resize_tensor_input(source, list(x.shape))
            try:
                interpreter.allocate_tensors()
            except RuntimeError as error:
                interpreter.resize_tensor_input(source, shape)  # back to the shape that works
                interpreter.allocate_tensors()
                raise ValueError(
                    f"{path} runs only at input shape {tuple(shape)}, not {x.shape}: its graph "
                    "fixes the batch size (export with an example of the batch you will run)"
                ) from error
            shape[:] = list(x.shape)
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        return interpreter.get_tensor(target)

    return run


def _require_litert() -> Any:
    try:
        import litert_torch
        from ai_edge_litert import interpreter  # noqa: F401
    except ImportError as error:
        raise ImportError(LITERT_MISSING) from error
    return litert_torch


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the block, then restore them as they were."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet_native_output() -> Iterator[None]:
    """Send what C++ libraries write to the process's stdout and stderr (the converter's
    progress lines, the interpreter's delegate banner) to /dev/null for the block."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


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
