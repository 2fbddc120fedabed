"""Notebook 04's set-up and wrap-up: parameters refused by name, widgets that read back the
parameters, the settings and data lines, diverged runs found at any depth, and the defaults
gate of the measured checks."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from labkit.data import Split
from labkit.figures import generalization_setup as fs
from labkit.figures.fitting import Run
from labkit.models import MLP
from labkit.train import History, TrainConfig
from labkit.validate import ConfigError

DEFAULTS = {"weight_decay": 0.01, "dropout": 0.8, "label_noise": 0.2, "patience": 5}


def run(*, diverged=False, dropout=0.0, **recipe):
    config = TrainConfig(**(fs.DEFAULT_RECIPE | recipe))
    return Run(MLP(hidden=(4,), dropout=dropout), History(), config, 300, 1.0, 0.9, diverged)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weight_decay": 1.5}, "weight_decay must be <= 1"),
        ({"weight_decay": -1e-3}, "weight_decay must be >= 0"),
        ({"dropout": 0.95}, "dropout must be <= 0.9"),
        ({"label_noise": 0.6}, "label_noise must be <= 0.5"),
        ({"patience": 0}, "patience must be an integer >= 1"),
        ({"patience": 2.0}, "patience must be an integer"),
    ],
)
def test_check_regularization_names_the_parameter(change, message):
    with pytest.raises(ConfigError, match=message):
        fs.check_regularization(**(DEFAULTS | change))


def test_check_regularization_accepts_the_edges():
    fs.check_regularization(weight_decay=1.0, dropout=0.9, label_noise=0.5, patience=1)
    fs.check_regularization(weight_decay=0.0, dropout=0.0, label_noise=0.0, patience=1)


def test_the_controls_start_at_the_parameters_and_read_the_sliders_back():
    pytest.importorskip("ipywidgets")
    config = TrainConfig(lr=0.01, batch_size=32, optimizer="adamw", epochs=8)
    ui = fs.RegularizationControls(config, weight_decay=0.05, dropout=0.5)
    assert ui.values() == {"lr": 0.01, "batch_size": 32, "optimizer": "adamw", "epochs": 8}
    assert ui.regularization() == (0.05, 0.5)
    assert 0.05 in [value for _, value in ui.weight_decay.options]  # the parameter is a stop
    ui.weight_decay.value, ui.dropout.value = 1.0, 0.9  # a learner moves the sliders
    assert ui.regularization() == (1.0, 0.9)
    assert "application/vnd.jupyter.widget-view+json" in ui._repr_mimebundle_()


def test_the_settings_and_data_lines():
    settings = TrainConfig(lr=3e-3, batch_size=64, optimizer="adam", epochs=40)
    line = fs.settings_line(settings, 0.01, 0.8, 5)
    assert line.startswith("adam, lr 0.003, batch size 64, 40 epochs")
    assert line.endswith("regularized: weight decay 0.01, dropout 0.8, patience 5")
    split = Split(torch.zeros(20, 64), torch.arange(20) % 10)
    val = Split(torch.zeros(7, 64), torch.zeros(7, dtype=torch.long))
    data = SimpleNamespace(train=split, val=val, test=split)  # only the sizes are read
    clean = Split(torch.zeros(30, 64), torch.cat([torch.arange(10)] * 2 + [torch.arange(5)] * 2))
    text = fs.data_report(data, clean, torch.arange(6))
    assert text.splitlines() == [
        "train 20, val 7, test 20 rows",
        "reduced training set: 30 rows, 2–4 per digit; noisy copy: 6 labels wrong (20%)",
    ]
    assert fs.panel_titles(clean, torch.arange(6)) == {
        "clean": "clean labels (30 rows)", "noisy": "6 wrong labels (30 rows)"}  # fmt: skip


def test_any_diverged_finds_a_run_at_any_depth():
    ok, bad = run(), run(diverged=True)
    sweep = {"clean": {2: ok, 512: ok}, "noisy": {2: ok}}
    draws = {"clean": [ok, ok], "noisy": [ok]}
    assert len(fs.runs_in(sweep, draws, ok)) == 3 + 3 + 1
    assert not fs.any_diverged(sweep, draws, ok)
    assert fs.any_diverged(sweep, draws, bad)
    assert fs.any_diverged({"noisy": [ok, bad]}, ok)
    assert fs.any_diverged({"a": {"b": {"c": bad}}})
    with pytest.raises(TypeError, match="expected a Run"):
        fs.runs_in({"a": None})


def test_ran_at_defaults_needs_every_setting():
    parameters = dict(fs.DEFAULT_PARAMETERS)
    base, reg = run(), run(dropout=0.8, weight_decay=0.01)
    assert fs.ran_at_defaults(base, reg, **parameters)
    assert not fs.ran_at_defaults(base, reg, **(parameters | {"seeds": 3}))
    assert not fs.ran_at_defaults(base, reg, **(parameters | {"label_noise": 0.3}))
    assert not fs.ran_at_defaults(run(lr=0.01), reg, **parameters)  # the baseline's recipe
    assert not fs.ran_at_defaults(base, run(dropout=0.5, weight_decay=0.01), **parameters)
    assert not fs.ran_at_defaults(base, run(dropout=0.8), **parameters)  # no weight decay
    other = dataclasses.replace(reg, recipe=dataclasses.replace(reg.recipe, epochs=8))
    assert not fs.ran_at_defaults(base, other, **parameters)
