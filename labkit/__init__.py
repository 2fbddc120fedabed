"""labkit: train, evaluate, compress, export, serve and monitor small models, hands-on.

The most used names are re-exported here; each module holds one idea (see README).
Heavy optional libraries (ipywidgets, papermill, …) load only in the modules that use them.
"""

from importlib.metadata import PackageNotFoundError, version

from labkit import crossval, exercises, landscapes, ui
from labkit.checkpoint import CheckpointError, load_model, save_model
from labkit.data import Batches, Data, Split, load_digits, make_blobs, make_spirals, split
from labkit.io import read_metrics, write_metrics
from labkit.metrics import classification_metrics, confusion_matrix, per_class_report
from labkit.models import MLP, SmallCNN, build_model, parameter_count
from labkit.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_scheduler
from labkit.sweep import sweep  # the function; the module is labkit.sweep
from labkit.train import (
    History,
    TrainConfig,
    TrainingDiverged,
    default_device,
    evaluate,
    fit,
    load_checkpoint,
    predict,
    resolve_device,
    seed_everything,
)
from labkit.validate import ConfigError

try:
    __version__ = version("labkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "MLP",
    "OPTIMIZERS",
    "SCHEDULES",
    "Batches",
    "CheckpointError",
    "ConfigError",
    "Data",
    "History",
    "SmallCNN",
    "Split",
    "TrainConfig",
    "TrainingDiverged",
    "build_model",
    "classification_metrics",
    "confusion_matrix",
    "crossval",
    "default_device",
    "evaluate",
    "exercises",
    "fit",
    "landscapes",
    "load_checkpoint",
    "load_digits",
    "load_model",
    "make_blobs",
    "make_optimizer",
    "make_scheduler",
    "make_spirals",
    "parameter_count",
    "per_class_report",
    "predict",
    "read_metrics",
    "resolve_device",
    "save_model",
    "seed_everything",
    "split",
    "sweep",
    "ui",
    "write_metrics",
]
