"""Run an exported ONNX file with ONNX Runtime: sessions, predictors, labkit's metadata.

Kept apart from `labkit.export` so that what runs a model (the server, `labkit.serve`) needs
ONNX Runtime and numpy, not torch: a serving process starts in a fraction of the time and
its image is smaller.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labkit.validate import check_bool, check_choice, check_int

OPT_LEVELS = ("disable", "basic", "extended", "all")  # ONNX Runtime graph optimization levels


def ort_session(
    path: str | os.PathLike,
    *,
    threads: int | None = None,
    optimization: str = "all",
    providers: Sequence[str] | None = None,
    save_optimized: str | os.PathLike | None = None,
    spinning: bool = True,
) -> Any:
    """An ONNX Runtime `InferenceSession` for `path` with `threads` intra-op threads (None:
    ONNX Runtime's choice) and a graph optimization level from OPT_LEVELS. Providers default
    to CUDA when this onnxruntime build has it, else CPU. `save_optimized` writes the graph
    as ONNX Runtime rewrote it (fused operators, at "all" a layout for this CPU), to read.
    `spinning=False` lets ONNX Runtime's idle threads sleep instead of spinning for work: a
    little more latency per call, and the cores go to the rest of the process (a server's
    HTTP handling) instead of to waiting threads."""
    import onnxruntime as ort

    check_choice("optimization", optimization, OPT_LEVELS)
    if save_optimized is not None and not Path(save_optimized).parent.is_dir():
        raise FileNotFoundError(f"folder {Path(save_optimized).parent} does not exist")
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
    if not check_bool("spinning", spinning):
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if save_optimized is not None:
        options.optimized_model_filepath = str(save_optimized)
    if providers is None:
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    return ort.InferenceSession(str(path), options, providers=list(providers))


def ort_predictor(session: Any) -> Callable[[Any], np.ndarray]:
    """A function of one batch (array or tensor, (B, F)) returning the first output. At
    batch 1 a call costs microseconds, so it does only what each call needs: no copy of an
    input that is already contiguous float32, the output named, the run options made once."""
    import onnxruntime as ort

    name, outputs = session.get_inputs()[0].name, [session.get_outputs()[0].name]
    options = ort.RunOptions()  # made once: passing None makes a fresh one on every call

    def run(x: Any) -> np.ndarray:
        if not isinstance(x, np.ndarray) and hasattr(x, "numpy"):  # a torch tensor
            x = x.numpy()
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous):
            x = np.ascontiguousarray(x, dtype=np.float32)  # lists, float64, strided views
        return session.run(outputs, {name: x}, options)[0]

    return run


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata properties `export_onnx` stored, decoded from JSON; entries other tools
    wrote as plain text (ONNX Runtime's quantizer marks its files so) are kept as text."""
    session = ort_session(path)
    stored = session.get_modelmeta().custom_metadata_map
    return {key: _json_or_text(value) for key, value in stored.items()}


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value
