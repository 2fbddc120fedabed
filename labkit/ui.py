"""Interactive controls, a live training plot, a run button, and progress bars.

Widgets are seeded from a notebook's parameters and read back with `values()` in
ordinary cells, so a headless run (papermill, nbval, the book) computes exactly the
parameters while a learner in JupyterLab can move the sliders and re-run.
ipywidgets and IPython are imported only when a widget is made.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from typing import Any

from labkit.optim import OPTIMIZERS
from labkit.validate import check_choice, check_float, check_int

BATCH_SIZES = (1, 8, 16, 32, 64, 128, 256, 512)


def progress_enabled() -> bool:
    """False when the environment variable LABKIT_PROGRESS is 0, false, off or no."""
    return os.environ.get("LABKIT_PROGRESS", "1").strip().lower() not in ("0", "false", "off", "no")


def progress(
    iterable: Iterable, *, desc: str = "", total: int | None = None, enabled: bool = True
) -> Any:
    """A tqdm bar (a widget in JupyterLab, text elsewhere); a silent pass-through when off."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not (enabled and progress_enabled()))


class Controls:
    """Training hyper-parameter widgets; `values()` returns their current settings."""

    def __init__(
        self, lr: float = 3e-3, batch_size: int = 64, optimizer: str = "adam", epochs: int = 20
    ) -> None:
        import ipywidgets as w

        check_float("lr", lr, positive=True)
        check_int("batch_size", batch_size, minimum=1)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_int("epochs", epochs, minimum=1)
        style = {"description_width": "90px"}
        sizes = sorted(set(BATCH_SIZES) | {batch_size})
        self.lr = w.FloatLogSlider(
            value=lr, base=10, min=min(-5, math.floor(math.log10(lr))),
            max=max(1, math.ceil(math.log10(lr))), step=0.1,
            description="learning rate", readout_format=".1e", style=style,
        )  # fmt: skip
        self.batch_size = w.Dropdown(
            options=sizes, value=batch_size, description="batch size", style=style
        )
        self.optimizer = w.Dropdown(
            options=OPTIMIZERS, value=optimizer, description="optimizer", style=style
        )
        self.epochs = w.IntSlider(
            value=epochs, min=1, max=max(100, epochs), description="epochs", style=style
        )
        self.box = w.VBox([self.lr, self.batch_size, self.optimizer, self.epochs])

    def values(self) -> dict[str, Any]:
        return {
            "lr": float(self.lr.value),
            "batch_size": int(self.batch_size.value),
            "optimizer": str(self.optimizer.value),
            "epochs": int(self.epochs.value),
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)


def controls(**defaults: Any) -> Controls:
    """Widgets for lr (log scale), batch size, optimizer and epochs, seeded from `defaults`."""
    return Controls(**defaults)


class LiveDashboard:
    """Loss and accuracy curves redrawn after every epoch; pass `update` as `fit(on_epoch=…)`.

    In a notebook the figure is shown once and replaced in place each epoch; outside one
    (plain Python) it draws nothing until `figure` is asked for.
    """

    def __init__(self, title: str = "training") -> None:
        from labkit.plots import history_figure

        self._draw = history_figure
        self.title = title
        self.figure = None
        self._handle = None

    def update(self, history: Any) -> None:
        self.figure = self._draw(history, title=self.title)
        if _in_notebook():
            from IPython.display import display

            if self._handle is None:
                self._handle = display(self.figure, display_id=True)
            else:
                self._handle.update(self.figure)


def run_button(description: str, callback: Callable[[], Any]) -> Any:
    """A button and an output area: each click clears the area and runs `callback` in it."""
    import ipywidgets as w

    button = w.Button(description=description, button_style="primary")
    out = w.Output()

    def on_click(_: Any) -> None:
        out.clear_output(wait=True)
        with out:
            callback()

    button.on_click(on_click)
    return w.VBox([button, out])


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
