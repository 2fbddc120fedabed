"""labkit.figures.panels: a notebook's widget panel starts at its parameters, so a headless run
computes exactly them, and `values()` follows a widget the learner moves."""

import pytest

from labkit.figures import panels
from labkit.train import TrainConfig
from labkit.validate import ConfigError

pytest.importorskip("ipywidgets")


def test_descent_controls_start_at_the_parameters_and_follow_the_widgets():
    ui = panels.DescentControls(lr=0.02, batch_size=16, optimizer="sgd", steps=300,
                                start=(-4.0, 1.5))  # fmt: skip
    assert ui.values() == {"lr": 0.02, "batch_size": 16, "optimizer": "sgd", "steps": 300,
                           "start": (-4.0, 1.5)}  # fmt: skip
    ui.ui.batch_size.value, ui.steps.value, ui.start[1].value = 64, 1000, -2.0
    assert ui.values()["batch_size"] == 64 and ui.values()["steps"] == 1000
    assert ui.values()["start"] == (-4.0, -2.0)
    assert (ui.start[0].min, ui.start[0].max, ui.start[1].min, ui.start[1].max) == (-5, 5, -2, 2)
    assert "text/plain" in ui._repr_mimebundle_()  # displaying the panel shows its widgets


def test_descent_controls_reach_a_large_step_count():
    assert panels.DescentControls(1e-5, 1, "adam", 5000, (5.0, -2.0)).steps.max == 5000


def test_optimizer_controls_start_at_the_config_and_move_the_rate_with_the_optimizer():
    config = TrainConfig(lr=3e-3, batch_size=64, epochs=10, optimizer="adam")
    sensible = {"sgd": 0.3, "adam": 3e-3, "rmsprop": 1e-3}
    ui = panels.OptimizerControls(config, "constant", ("constant", "cosine"), sensible_lr=sensible)
    assert ui.values() == {"lr": 3e-3, "batch_size": 64, "optimizer": "adam", "epochs": 10}
    assert ui.schedule.value == "constant" and list(ui.schedule.options) == ["constant", "cosine"]
    ui.optimizer.value = "rmsprop"  # the learner picks another optimizer: its own rate follows
    assert ui.values()["lr"] == 1e-3 and ui.values()["optimizer"] == "rmsprop"
    ui.lr.value = 0.3  # and the rate can still be moved by hand
    assert ui.values()["lr"] == 0.3
    assert "text/plain" in ui._repr_mimebundle_()


def test_descent_parameters_are_checked_against_the_widgets_ranges():
    good = {"lr": 0.02, "batch_size": 16, "steps": 300, "optimizer": "sgd",
            "start": (-4.0, 1.5), "seed": 0, "out_dir": ""}  # fmt: skip
    panels.check_descent_parameters(**good)
    panels.check_descent_parameters(**{**good, "lr": panels.MAX_LR, "batch_size": 4096,
                                       "start": panels.START_RANGE})  # fmt: skip
    bad = [
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr": 10.5}, "lr must be <= 10.0"),
        ({"batch_size": 4097}, "batch_size must be <= 4096, the rows in the data"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of 'sgd'"),
        ({"start": (-5.5, 0.0)}, "start_x must be >= -5.0"),
        ({"start": (0.0, 2.5)}, "start_y must be <= 2.0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"out_dir": None}, "out_dir must be a string"),
    ]
    for change, message in bad:
        with pytest.raises(ConfigError, match=message):
            panels.check_descent_parameters(**{**good, **change})
    ui = panels.DescentControls(0.02, 16, "sgd", 300, (0.0, 0.0))  # the range it checks
    assert (ui.start[0].max, ui.start[1].max) == panels.START_RANGE
