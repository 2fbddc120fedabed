"""Notebook 04's set-up and wrap-up: the regularization parameters checked by name, the widgets
that set the training recipe and the regularized model, the lines that say what the runs use
and what data they see, whether any run diverged, and whether the notebook ran at the default
settings its measured checks rest on.

None of this decides what is trained or what a verdict says: the notebook keeps the
experiments, and `labkit.figures.fitting` the runs and the noise band.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from labkit.data import Data, Split
from labkit.figures.fitting import Run, epochs_text
from labkit.train import TrainConfig
from labkit.ui import controls
from labkit.validate import check_float, check_int

# The settings the notebook's measured checks were made at (its parameters' defaults): the
# training recipe, the regularized model's weight decay and dropout, and the other parameters.
DEFAULT_RECIPE = {"lr": 3e-3, "batch_size": 64, "optimizer": "adam", "epochs": 40}
DEFAULT_REGULARIZATION = {"weight_decay": 0.01, "dropout": 0.8}
DEFAULT_PARAMETERS = {"patience": 5, "train_size": 300, "label_noise": 0.2, "k_folds": 5,
                      "seeds": 4}  # fmt: skip
# Weight decays the slider offers (the parameter's value is added): 0 and 1-3 steps per decade.
DECAYS = (0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
STYLE = {"description_width": "90px"}


def check_regularization(weight_decay: Any, dropout: Any, label_noise: Any, patience: Any) -> None:
    """Validate the regularized model's settings and the share of wrong labels, naming the
    parameter: weight_decay 0 to 1, dropout 0 to 0.9, label_noise 0 to 0.5, patience ≥ 1."""
    check_float("weight_decay", weight_decay, minimum=0.0, maximum=1.0)
    check_float("dropout", dropout, minimum=0.0, maximum=0.9)
    check_float("label_noise", label_noise, minimum=0.0, maximum=0.5)
    check_int("patience", patience, minimum=1)


class RegularizationControls:
    """labkit.ui's learning rate, batch size, optimizer and epochs, seeded from `config`, and
    two sliders for the regularized model: weight decay (`DECAYS` plus the parameter) and
    dropout (0 to 0.9). `values()` gives the four `TrainConfig` fields, `regularization()`
    the weight decay and dropout; headless, both are the parameters."""

    def __init__(self, config: TrainConfig, weight_decay: float, dropout: float) -> None:
        import ipywidgets as w

        self.ui = controls(lr=config.lr, batch_size=config.batch_size,
                           optimizer=config.optimizer, epochs=config.epochs)  # fmt: skip
        decays = sorted(set(DECAYS) | {float(weight_decay)})  # the parameter is always a stop
        self.weight_decay = w.SelectionSlider(
            options=[(f"{d:g}", d) for d in decays], value=float(weight_decay),
            description="weight decay", style=STYLE, continuous_update=False,
        )  # fmt: skip
        self.dropout = w.FloatSlider(
            value=dropout, min=0.0, max=0.9, step=0.05, description="dropout", style=STYLE,
            continuous_update=False,
        )  # fmt: skip
        self.box = w.VBox([self.ui.box, self.weight_decay, self.dropout])

    def values(self) -> dict[str, Any]:
        """lr, batch_size, optimizer and epochs as the widgets now say."""
        return self.ui.values()

    def regularization(self) -> tuple[float, float]:
        """The regularized model's weight decay and dropout as the sliders now say."""
        return float(self.weight_decay.value), float(self.dropout.value)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)


def settings_line(settings: TrainConfig, decay: float, drop: float, patience: int) -> str:
    """What every run uses, and what the regularized model adds."""
    return (f"{settings.optimizer}, lr {settings.lr:g}, batch size {settings.batch_size}, "
            f"{epochs_text(settings.epochs)}; regularized: weight decay {decay:g}, dropout "
            f"{drop:g}, patience {patience}")  # fmt: skip


def data_report(data: Data, clean: Split, wrong: torch.Tensor) -> str:
    """The three splits' sizes, and the reduced training set with its rows per digit and the
    share of labels its noisy copy changed."""
    per_digit = torch.bincount(clean.y, minlength=10)
    return (f"train {len(data.train)}, val {len(data.val)}, test {len(data.test)} rows\n"
            f"reduced training set: {len(clean)} rows, {per_digit.min()}–{per_digit.max()} "
            f"per digit; noisy copy: {len(wrong)} labels wrong "
            f"({len(wrong) / len(clean):.0%})")  # fmt: skip


def panel_titles(clean: Split, wrong: torch.Tensor) -> dict[str, str]:
    """The clean and the noisy panel's titles: the rows, and how many labels are wrong."""
    return {"clean": f"clean labels ({len(clean)} rows)",
            "noisy": f"{len(wrong)} wrong labels ({len(clean)} rows)"}  # fmt: skip


def runs_in(*groups: Any) -> list[Run]:
    """Every `Run` in `groups`: runs, and mappings or sequences of them, nested to any depth."""
    runs: list[Run] = []
    for group in groups:
        if isinstance(group, Run):
            runs.append(group)
        elif isinstance(group, Mapping):
            runs.extend(runs_in(*group.values()))
        elif isinstance(group, list | tuple):
            runs.extend(runs_in(*group))
        else:
            raise TypeError(f"expected a Run, or a mapping or sequence of them; got {group!r}")
    return runs


def any_diverged(*groups: Any) -> bool:
    """Whether any run in `groups` (as `runs_in` finds them) diverged."""
    return any(run.diverged for run in runs_in(*groups))


def ran_at_defaults(baseline: Run, regularized: Run, **parameters: Any) -> bool:
    """Whether the baseline and the regularized run were trained with `DEFAULT_RECIPE`, the
    regularized one with `DEFAULT_REGULARIZATION`, and `parameters` are `DEFAULT_PARAMETERS`:
    the settings the notebook's measured checks were made at."""
    recipes = all(getattr(run.recipe, name) == value for run in (baseline, regularized)
                  for name, value in DEFAULT_RECIPE.items())  # fmt: skip
    regularization = {"weight_decay": regularized.recipe.weight_decay,
                      "dropout": regularized.model.hparams["dropout"]}  # fmt: skip
    return recipes and regularization == DEFAULT_REGULARIZATION and parameters == DEFAULT_PARAMETERS
