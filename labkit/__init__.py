"""labkit: train, evaluate, compress, export, serve and monitor small models, hands-on.

The most used names are re-exported here; each module holds one idea (see README).
They load on first use (PEP 562), so `import labkit.serve` in a serving process pulls in
ONNX Runtime and the web stack but not torch or the training code, and heavy optional
libraries (ipywidgets, papermill, …) load only in the modules that use them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("labkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# The function, bound eagerly: importing the module labkit.sweep would otherwise make
# `labkit.sweep` the module. It needs neither torch nor papermill at import.
from labkit.sweep import sweep as sweep

# name -> the module that defines it; a module's own name maps to itself.
_WHERE = {
    "CheckpointError": "checkpoint",
    "load_model": "checkpoint",
    "save_model": "checkpoint",
    **dict.fromkeys(
        ("Batches", "Data", "Split", "load_digits", "make_blobs", "make_spirals", "split"), "data"
    ),
    "read_metrics": "io",
    "write_metrics": "io",
    "classification_metrics": "metrics",
    "confusion_matrix": "metrics",
    "per_class_report": "metrics",
    **dict.fromkeys(("MLP", "SmallCNN", "build_model", "parameter_count"), "models"),
    **dict.fromkeys(("OPTIMIZERS", "SCHEDULES", "make_optimizer", "make_scheduler"), "optim"),
    **dict.fromkeys(
        (
            "History",
            "TrainConfig",
            "TrainingDiverged",
            "default_device",
            "evaluate",
            "fit",
            "load_checkpoint",
            "predict",
            "resolve_device",
            "seed_everything",
        ),
        "train",
    ),
    "ConfigError": "validate",
    **{m: m for m in ("crossval", "exercises", "landscapes", "ui")},
}

__all__ = sorted([*_WHERE, "sweep"])


def __getattr__(name: str) -> Any:
    """Import the module behind `labkit.<name>` on first use and cache the name here."""
    if name not in _WHERE:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}")
    module = importlib.import_module(f"labkit.{_WHERE[name]}")
    value = module if _WHERE[name] == name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
