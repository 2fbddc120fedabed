"""The widget panels of notebooks 01 and 02: `labkit.ui`'s controls plus each lesson's own.

Like `labkit.ui.Controls`, a panel is seeded from the notebook's parameters and read back
with `values()` in ordinary cells, so a headless run (papermill, nbval, the book) computes
exactly the parameters, while a learner in JupyterLab moves a widget and re-runs the cells
below it. Displaying a panel shows its widgets. ipywidgets is imported only when a panel is
made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labkit.optim import OPTIMIZERS
from labkit.ui import controls
from labkit.validate import ConfigError, check_choice, check_float, check_int, check_str

STYLE = {"description_width": "90px"}  # as labkit.ui's widgets, so the panel lines up
MAX_LR = 10.0  # the learning-rate slider's largest stop
START_RANGE = (5.0, 2.0)  # notebook 01's start point: ± this along the flat and steep axes


def check_descent_parameters(
    *,
    lr: Any,
    batch_size: Any,
    steps: Any,
    optimizer: Any,
    start: tuple[Any, Any],
    seed: Any,
    out_dir: Any,
    rows: int = 4096,
) -> None:
    """Notebook 01's parameters, each checked by name against what its widgets allow (a rate
    in (0, MAX_LR], a batch of 1 to `rows`, the start inside START_RANGE): raises ConfigError
    naming the first bad one."""
    check_float("lr", lr, positive=True, maximum=MAX_LR)
    if check_int("batch_size", batch_size, minimum=1) > rows:  # check_int has no maximum
        raise ConfigError(f"batch_size must be <= {rows}, the rows in the data; got {batch_size!r}")
    check_int("steps", steps, minimum=1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    for name, value, r in zip(("start_x", "start_y"), start, START_RANGE, strict=True):
        check_float(name, value, minimum=-r, maximum=r)
    check_int("seed", seed)
    check_str("out_dir", out_dir)


class DescentControls:
    """Notebook 01's widgets: the learning rate (labkit.ui's exact 1-2-3-5 stops), batch size
    and optimizer, plus the steps each method gets and the start point of the 2-D paths."""

    def __init__(
        self,
        lr: float,
        batch_size: int,
        optimizer: str,
        steps: int,
        start: tuple[float, float],
        *,
        start_range: tuple[float, float] = START_RANGE,  # ± the start's allowed x and y
    ) -> None:
        import ipywidgets as w

        self.ui = controls(lr=lr, batch_size=batch_size, optimizer=optimizer)
        self.steps = w.IntSlider(
            value=steps, min=1, max=max(1000, steps), description="steps", style=STYLE
        )
        self.start = tuple(
            w.FloatSlider(value=v, min=-r, max=r, step=0.1, description=name, style=STYLE)
            for v, r, name in zip(
                start, start_range, ("start (flat)", "start (steep)"), strict=True
            )
        )
        self.box = w.VBox([self.ui.lr, self.ui.batch_size, self.ui.optimizer, self.steps,
                           *self.start])  # fmt: skip

    def values(self) -> dict[str, Any]:
        """The widgets' current values (in a headless run: the parameters): lr, batch_size,
        optimizer, steps and start (x, y)."""
        v = self.ui.values()
        return {"lr": v["lr"], "batch_size": v["batch_size"], "optimizer": v["optimizer"],
                "steps": self.steps.value, "start": tuple(s.value for s in self.start)}  # fmt: skip

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)


class OptimizerControls:
    """Notebook 02's widgets: labkit.ui's learning rate, batch size, optimizer and epochs, and a
    schedule menu. Choosing an optimizer moves the learning-rate slider to that optimizer's
    rate in `sensible_lr` (each one works in a different range). `values()` gives the four
    `TrainConfig` fields; the schedule is `schedule.value`."""

    def __init__(
        self,
        config: Any,
        schedule: str,
        schedules: Sequence[str],
        *,
        sensible_lr: Mapping[str, float],
    ) -> None:
        import ipywidgets as w

        self.ui = controls(lr=config.lr, batch_size=config.batch_size,
                           optimizer=config.optimizer, epochs=config.epochs)  # fmt: skip
        self.lr, self.batch_size = self.ui.lr, self.ui.batch_size
        self.optimizer, self.epochs = self.ui.optimizer, self.ui.epochs
        self.schedule = w.Dropdown(
            options=schedules, value=schedule, description="schedule", style=STYLE
        )

        def start_at_sensible_lr(change: Any) -> None:
            self.lr.value = sensible_lr[change.new]

        self.optimizer.observe(start_at_sensible_lr, names="value")
        self.box = w.VBox([self.ui.box, self.schedule])

    def values(self) -> dict[str, Any]:
        """lr, batch_size, optimizer and epochs as the widgets now say (headless: the
        parameters)."""
        return self.ui.values()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)
