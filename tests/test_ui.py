import matplotlib
import pytest

from labkit import ui
from labkit.plots import confusion_matrix_figure, history_figure, images_figure
from labkit.train import History
from labkit.validate import ConfigError

matplotlib.use("Agg")


def _history():
    h = History()
    for epoch, loss in enumerate([1.0, 0.5, 0.25], start=1):
        h.append({"epoch": epoch, "train_loss": loss, "val_loss": loss * 1.2,
                  "val_accuracy": 1 - loss / 2, "lr": 0.1, "seconds": 0.01})  # fmt: skip
    return h


def test_controls_start_at_the_parameters_and_follow_the_widgets():
    c = ui.controls(lr=0.02, batch_size=48, optimizer="rmsprop", epochs=7)
    assert c.values() == {"lr": 0.02, "batch_size": 48, "optimizer": "rmsprop", "epochs": 7}
    assert 48 in c.batch_size.options  # an unusual size is added to the choices
    c.lr.value, c.batch_size.value, c.optimizer.value, c.epochs.value = 1e-3, 128, "sgd", 3
    assert c.values() == {"lr": 1e-3, "batch_size": 128, "optimizer": "sgd", "epochs": 3}
    assert c.lr.min <= -4 and c.lr.max >= 0  # log-scale slider spans 1e-4 .. 1
    assert "application/vnd.jupyter.widget-view+json" in c._repr_mimebundle_()


def test_controls_reject_what_the_widgets_cannot_show():
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        ui.controls(optimizer="lamb")
    with pytest.raises(ConfigError, match="lr must be a finite number > 0"):
        ui.controls(lr=0.0)


def test_progress_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("LABKIT_PROGRESS", "1")
    assert not ui.progress(range(3), enabled=True).disable
    assert ui.progress(range(3), enabled=False).disable
    monkeypatch.setenv("LABKIT_PROGRESS", "off")
    bar = ui.progress(range(3), enabled=True)
    assert bar.disable and list(bar) == [0, 1, 2]


def test_run_button_runs_its_callback_on_click():
    calls = []
    box = ui.run_button("Train", lambda: calls.append("ran"))
    button, output = box.children
    assert button.description == "Train" and output is not None
    button.click()
    button.click()
    assert calls == ["ran", "ran"]


def test_live_dashboard_redraws_from_history():
    dash = ui.LiveDashboard("demo")
    h = _history()
    dash.update(h)
    loss_ax, acc_ax = dash.figure.axes
    assert list(loss_ax.lines[0].get_ydata()) == [1.0, 0.5, 0.25]
    assert list(acc_ax.lines[0].get_ydata()) == [0.5, 0.75, 0.875]
    assert loss_ax.get_title() == "demo: loss"


def test_figures():
    fig = history_figure(_history())
    assert len(fig.axes[0].lines) == 2  # train and val
    cm = confusion_matrix_figure([[3, 1], [0, 4]])
    assert [t.get_text() for t in cm.axes[0].texts] == ["3", "1", "4"]  # zero cells stay blank
    grid = images_figure([[[0, 1], [1, 0]]] * 3, ["a", "b", "c"], columns=2)
    titled = [ax.get_title() for ax in grid.axes if ax.get_title()]
    assert titled == ["a", "b", "c"] and len(grid.axes) == 4
