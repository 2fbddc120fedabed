"""Interactive controls, a live training plot and a run button.

Widgets are seeded from a notebook's parameters and read back with `values()` in
ordinary cells, so a headless run (papermill, nbval, the book) computes exactly the
parameters while a learner in JupyterLab can move the sliders and re-run.
ipywidgets and IPython are imported only when a widget is made.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from labkit.optim import OPTIMIZERS
from labkit.validate import check_choice, check_float, check_int

BATCH_SIZES = (1, 8, 16, 32, 64, 128, 256, 512)
# 1-2-3-5 steps per decade from 1e-5 to 10: every value the course asks for sits exactly
# on the slider (a log slider with a fixed step turns 3e-3 into 3.2e-3 in the browser).
LEARNING_RATES = (*(float(f"{m}e{k}") for k in range(-5, 1) for m in (1, 2, 3, 5)), 10.0)

# The Output widget of the run_button whose callback is running, if any (see LiveDashboard).
_button_output: ContextVar[Any] = ContextVar("labkit_button_output", default=None)


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
        rates = sorted(set(LEARNING_RATES) | {float(lr)})  # the default is always a stop
        self.lr = w.SelectionSlider(
            options=[(f"{r:g}", r) for r in rates], value=float(lr),
            description="learning rate", style=style, continuous_update=False,
        )  # fmt: skip
        sizes = sorted(set(BATCH_SIZES) | {batch_size})
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
    """Widgets for lr (1-2-3-5 steps), batch size, optimizer and epochs, seeded from `defaults`."""
    return Controls(**defaults)


class LiveDashboard:
    """Loss and accuracy curves that follow a run; pass `update` as `fit(on_epoch=…)`.

    Rendering the figure costs about as much as an epoch of the course models, so it is
    redrawn at most every `interval` seconds (and never more than ~10 % of the time), and
    always after the last epoch (`history.done`, or the last of `epochs`). In a cell the
    figure is shown once and replaced in place, so the notebook stores the final one; under
    a `run_button`, where replacing a display does not reach the page, it redraws inside its
    own output area. Outside a notebook it draws the figure (`dashboard.figure`) and shows
    nothing.
    """

    def __init__(
        self, title: str = "training", *, epochs: int | None = None, interval: float = 1.0
    ) -> None:
        from labkit.plots import HistoryPlot

        if epochs is not None:
            check_int("epochs", epochs, minimum=1)
        self.plot = HistoryPlot(title, epochs=epochs)
        self.interval = check_float("interval", interval, minimum=0.0)
        self.draws = 0  # how many times the figure was rendered
        self._last = time.perf_counter()  # when the last draw ended
        self._cost = 0.0  # seconds the last draw took
        self._handles: list[Any] = []  # display handles (image, caption) in a cell
        self._area: Any = None  # Output widget under a button

    @property
    def figure(self) -> Any:
        return self.plot.figure

    def update(self, history: Any) -> None:
        """Redraw from `history` when due: the last epoch, or `interval` since the last draw."""
        start = time.perf_counter()
        planned = self.plot.epochs is not None and len(history) >= self.plot.epochs
        last_epoch = history.done or planned  # done: fit stopped early, or reached the end
        if not last_epoch and start - self._last < max(self.interval, 10 * self._cost):
            return
        self.plot.draw(history)
        if _in_notebook():
            self._show(caption(history, self.plot.epochs))
        self.draws += 1
        self._last = time.perf_counter()
        self._cost = self._last - start

    def _show(self, text: str) -> None:
        from IPython.display import Image, Pretty, clear_output, display

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        shown = (Image(data=buffer.getvalue(), format="png"), Pretty(text))
        if _button_output.get() is None:  # an ordinary cell: replace the displays in place
            if not self._handles:
                self._handles = [display(obj, display_id=True) for obj in shown]
            else:
                for handle, obj in zip(self._handles, shown, strict=True):
                    handle.update(obj)
            return
        if self._area is None:  # under a button: an output area of our own inside its Output
            import ipywidgets as w

            self._area = w.Output()
            display(self._area)
        with self._area:
            clear_output(wait=True)
            display(*shown)


def caption(history: Any, epochs: int | None = None) -> str:
    """One line with the latest epoch's numbers, e.g. for under a live plot."""
    parts = [f"epoch {len(history)}" + (f"/{epochs}" if epochs else "")]
    parts.append(f"train loss {history.train_loss[-1]:.4f}")
    if history.val_loss:
        parts.append(f"val loss {history.val_loss[-1]:.4f}")
        parts.append(f"val accuracy {history.val_accuracy[-1]:.3f}")
    return " · ".join(parts)


def run_button(description: str, callback: Callable[[], Any]) -> Any:
    """A button and an output area: each click clears the area and runs `callback` in it."""
    import ipywidgets as w

    button = w.Button(description=description, button_style="primary")
    out = w.Output()

    def on_click(_: Any) -> None:
        out.clear_output(wait=True)
        token = _button_output.set(out)
        try:
            with out:
                callback()
        finally:
            _button_output.reset(token)

    button.on_click(on_click)
    return w.VBox([button, out])


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
