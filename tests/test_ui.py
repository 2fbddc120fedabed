import math
import time

import matplotlib
import pytest

from labkit import progress, ui
from labkit.plots import (
    HistoryPlot,
    best_epoch,
    confusion_matrix_figure,
    history_figure,
    images_figure,
)
from labkit.train import History
from labkit.validate import ConfigError

matplotlib.use("Agg")


def _history(losses=(1.0, 0.5, 0.25), val=(1.2, 0.6, 0.3)):
    h = History()
    for epoch, (loss, v) in enumerate(zip(losses, val, strict=True), start=1):
        h.append({"epoch": epoch, "train_loss": loss, "val_loss": v,
                  "val_accuracy": 1 - loss / 2, "lr": 0.1, "seconds": 0.01})  # fmt: skip
    return h


def test_controls_start_at_the_parameters_and_follow_the_widgets():
    c = ui.controls(lr=0.02, batch_size=48, optimizer="rmsprop", epochs=7)
    assert c.values() == {"lr": 0.02, "batch_size": 48, "optimizer": "rmsprop", "epochs": 7}
    assert 48 in c.batch_size.options  # an unusual size is added to the choices
    c.lr.value, c.batch_size.value, c.optimizer.value, c.epochs.value = 1e-3, 128, "sgd", 3
    assert c.values() == {"lr": 1e-3, "batch_size": 128, "optimizer": "sgd", "epochs": 3}
    assert "application/vnd.jupyter.widget-view+json" in c._repr_mimebundle_()


@pytest.mark.parametrize("lr", [3e-3, 0.1, 1.0, 1e-5, 10.0, 0.0123])
def test_learning_rate_slider_holds_values_exactly(lr):
    # The page sends back the value at the slider's index: it must be the value itself.
    c = ui.controls(lr=lr)
    assert c.lr.value == lr and c.values()["lr"] == lr
    labels = [label for label, _ in c.lr.options]
    assert float(labels[c.lr.index]) == lr  # what the page shows at the slider's index
    values = [v for _, v in c.lr.options]
    assert values == sorted(values) and {3e-3, 0.1, 1.0} <= set(values)


def test_controls_reject_what_the_widgets_cannot_show():
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        ui.controls(optimizer="lamb")
    with pytest.raises(ConfigError, match="lr must be a finite number > 0"):
        ui.controls(lr=0.0)


def test_progress_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("LABKIT_PROGRESS", "1")
    assert not progress.progress(range(3), enabled=True).disable
    assert progress.progress(range(3), enabled=False).disable
    monkeypatch.setenv("LABKIT_PROGRESS", "off")
    bar = progress.progress(range(3), enabled=True)
    assert bar.disable and list(bar) == [0, 1, 2]


def test_run_button_runs_its_callback_on_click():
    calls = []
    box = ui.run_button("Train", lambda: calls.append(ui._button_output.get()))
    button, output = box.children
    assert button.description == "Train"
    button.click()
    button.click()
    assert calls == [output, output]  # the callback knows which output area it draws in
    assert ui._button_output.get() is None  # and only while it runs


def test_live_dashboard_draws_on_the_last_epoch_and_at_a_bounded_rate():
    dash = ui.LiveDashboard("demo", epochs=3, interval=60)
    h = History()
    for row in range(3):
        h.append({k: v[row] for k, v in _history().as_dict().items()})
        dash.update(h)
        assert dash.draws == (1 if len(h) == 3 else 0)  # the interval holds the middle back
    loss_ax, acc_ax = dash.figure.axes
    assert list(loss_ax.lines[0].get_ydata()) == [1.0, 0.5, 0.25]
    assert list(acc_ax.lines[0].get_ydata()) == [0.5, 0.75, 0.875]
    assert loss_ax.get_title() == "demo: loss" and loss_ax.get_yscale() == "log"
    eager = ui.LiveDashboard("demo", interval=0)
    eager.update(h)
    eager.update(h)  # drawing takes no more than a tenth of the time: too soon again
    assert eager.draws == 1
    time.sleep(10 * eager._cost + 0.01)
    eager.update(h)
    assert eager.draws == 2
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1"):
        ui.LiveDashboard(epochs=0)


def test_history_plot_reuses_its_figure_and_marks_the_best_epoch():
    plot = HistoryPlot("run", epochs=4)
    first = plot.draw(_history())
    again = plot.draw(_history((1.0, 0.5, 0.25, 0.1), (1.2, 0.6, 0.3, 0.4)))
    assert again is first and len(first.axes[0].lines) == 3  # lines are reused, not added
    assert list(first.axes[0].lines[0].get_xdata()) == [1, 2, 3, 4]
    assert best_epoch(_history((1.0, 0.5, 0.25, 0.1), (1.2, 0.6, 0.3, 0.4))) == 3
    assert [line.get_xdata()[0] for line in plot.best] == [3, 3]
    assert first._suptitle.get_text() == "epoch 4/4"
    assert math.isclose(first.axes[0].get_ylim()[0], 0.1, rel_tol=0.5)  # rescaled to the data


def test_caption_says_where_the_run_is():
    text = ui.caption(_history(), epochs=5)
    assert text == "epoch 3/5 · train loss 0.2500 · val loss 0.3000 · val accuracy 0.875"


def test_figures():
    fig = history_figure(_history())
    assert len(fig.axes[0].lines) == 3  # train, val, best-epoch marker
    cm = confusion_matrix_figure([[3, 1], [0, 4]])
    assert [t.get_text() for t in cm.axes[0].texts] == ["3", "1", "4"]  # zero cells stay blank
    grid = images_figure([[[0, 1], [1, 0]]] * 3, ["a", "b", "c"], columns=2)
    titled = [ax.get_title() for ax in grid.axes if ax.get_title()]
    assert titled == ["a", "b", "c"] and len(grid.axes) == 4


def test_live_dashboard_draws_when_fit_says_the_run_is_done():
    # early stopping ends a run before `epochs`: fit marks the last epoch with history.done
    dash = ui.LiveDashboard("demo", epochs=50, interval=60)
    h = _history()
    dash.update(h)
    assert dash.draws == 0
    h.done = True
    dash.update(h)
    assert dash.draws == 1
