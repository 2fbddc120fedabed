"""Notebook 02 (optimizers) run headless: its metrics, re-runs into the same out_dir, the
smallest values validation accepts, and every bad parameter rejected by name."""

from functools import partial
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

import labkit
from labkit.exercises.optimizers import _CURVE_SHAPES, _finder_curve
from labkit.optim import OPTIMIZERS, _steepest, lr_finder
from labkit.validate import ConfigError

from notebook_runs import metrics, refused_early, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "02_optimizers.ipynb"
REQUIRED = {"test_accuracy", "test_precision_macro", "test_recall_macro", "test_f1_macro"}
FIGURES = ("paths_bowl.png", "lr_finder.png", "schedules.png", "batch_lr_grid.png")
_run = partial(run, NOTEBOOK)
_metrics = metrics
_validate = partial(validate, NOTEBOOK)


def _checked(metrics, optimizer):
    per_optimizer = {f"{k}_{n}" for k in ("test_accuracy", "val_accuracy") for n in OPTIMIZERS}
    assert metrics.keys() >= REQUIRED | per_optimizer  # a diverged run's too, from its weights
    assert all(0 <= metrics[k] <= 1 for k in REQUIRED | per_optimizer)
    assert metrics["test_accuracy"] == metrics[f"test_accuracy_{optimizer}"]
    assert 1e-5 <= metrics["lr_finder_suggested_lr"] <= 10
    assert metrics["parity_max_abs_diff"] < 1e-6
    assert metrics["grid_best_lr_batch_256"] > metrics["grid_best_lr_batch_16"]
    # the largest rate that trains, bisected over 3 seeds, keeps growing with the batch (the
    # old 4x grid reported 1.6 at both 64 and 256)
    largest = [metrics[f"largest_lr_batch_{b}"] for b in (16, 64, 256)]
    assert largest[0] < largest[1] < largest[2] < 4 * largest[1], largest


@pytest.mark.slow
def test_reruns_into_the_same_out_dir_down_to_the_smallest_values(tmp_path):
    out = tmp_path / "run"
    # rmsprop / batch 32 / seed 2: a finder curve where labkit's rule (skip the first tenth)
    # and the old one (the first rate tried) differ; exercise 3's solution asserts it matches.
    _run(tmp_path, optimizer="rmsprop", lr=0.002, batch_size=32, epochs=2,
         schedule="warmup_cosine", seed=2, out_dir=str(out))  # fmt: skip
    first = _metrics(out)
    _checked(first, "rmsprop")
    assert (first["optimizer"], first["lr"], first["lr_rmsprop"]) == ("rmsprop", 0.002, 0.002)
    assert (first["batch_size"], first["epochs"], first["schedule"], first["seed"]) == (
        32, 2, "warmup_cosine", 2
    )  # fmt: skip
    assert first["lr_finder_suggested_lr"] > 1e-5
    assert first["test_accuracy"] > 0.8 and first["lr_adam"] == 0.003  # the others' rates
    for name in FIGURES:
        assert (out / name).stat().st_size > 5000, name

    # epochs=1 and batch_size=1 are the smallest values validation accepts; lr=None picks
    # the optimizer's sensible rate. Into the same out_dir: everything is rewritten.
    _run(tmp_path, optimizer="adamw", batch_size=1, epochs=1, schedule="step", out_dir=str(out))
    second = _metrics(out)
    _checked(second, "adamw")
    assert (second["optimizer"], second["lr"], second["batch_size"], second["epochs"]) == (
        "adamw", 0.003, 1, 1
    )  # fmt: skip
    assert second["test_accuracy"] > 0.8
    assert all(isinstance(second[f"diverged_{n}"], bool) for n in OPTIMIZERS)
    # At batch size 1 the rates tuned for batch 64 are too large for these three: SGD's loss
    # becomes nan, momentum's and Nesterov's blow up to a huge but finite loss; all flagged.
    assert all(second[f"diverged_{n}"] for n in ("sgd", "momentum", "nesterov"))
    for name in FIGURES:
        assert (out / name).stat().st_size > 5000, name


@pytest.mark.slow
def test_a_bad_value_stops_a_papermill_run_right_after_the_parameters(tmp_path):
    refused_early(NOTEBOOK, tmp_path, "schedule must be one of", schedule="linear")


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"optimizer": "adamm"}, "optimizer must be one of 'sgd'"),
        ({"lr": -0.1}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number; got nan"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"schedule": "warmup"}, "schedule must be one of 'constant', 'step', 'cosine'"),
        ({"seed": "zero"}, "seed must be an integer"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
        ({"out_dir": 3}, "out_dir must be a string"),
    ],
)
def test_every_parameter_is_validated_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


def test_validation_fills_in_each_optimizers_sensible_rate():
    namespace = _validate(optimizer="sgd")
    assert namespace["config"].lr == namespace["SENSIBLE_LR"]["sgd"] == 0.3
    assert _validate(optimizer="sgd", lr=0.01)["config"].lr == 0.01
    rates = _validate()["SENSIBLE_LR"]
    assert rates.keys() == set(OPTIMIZERS)
    from labkit.ui import LEARNING_RATES

    assert set(rates.values()) <= set(LEARNING_RATES), "each sensible rate is a slider stop"


def _cell(start):
    """The notebook's code cell whose source starts with `start`."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith(start))


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_the_from_scratch_rules_match_torch_with_weight_decay(name):
    # Adam's weight decay is an L2 term added to the gradient, AdamW's shrinks the weights:
    # the notebook's from-scratch functions must match both at a non-default strength.
    namespace = {}
    exec(_cell("def sgd_step("), namespace)
    torch.manual_seed(0)
    w0, grads = torch.randn(5, dtype=torch.float64), torch.randn(8, 5, dtype=torch.float64)
    p = torch.nn.Parameter(w0.clone())
    opt = labkit.make_optimizer(name, [p], 0.05, weight_decay=0.2)
    w, state = w0.clone(), {}
    for g in grads:
        p.grad = g.clone()
        opt.step()
        w = namespace["SCRATCH"][name](w, g, state, 0.05, weight_decay=0.2)
        assert torch.allclose(w, p.detach(), atol=1e-12)
    assert (w - w0).abs().max() > 0.1


def test_the_blow_up_test_on_the_bowl_flags_a_huge_finite_loss():
    from labkit.figures.optim_paths import blew_up_on
    from labkit.landscapes import bowl, trajectory

    # the notebook's test for a drawn path is labkit's: "check yourself" and the button use it
    assert "optim_paths.blew_up_on(steep_bowl" in _cell("# 1. The from-scratch rules")
    assert "optim_paths.try_line(steep_bowl" in _cell("def draw_on_bowl(")
    steep = partial(bowl, a=1.0, b=100.0)
    runaway = trajectory(steep, (-4.0, 1.2), "sgd", 0.03, steps=100)
    assert len(runaway) == 101 and steep(torch.tensor(runaway[-1])) > 1e60  # finite, huge
    assert blew_up_on(steep, runaway, 100)
    assert not blew_up_on(steep, trajectory(steep, (-4.0, 1.2), "sgd", 0.02, steps=100), 100)
    assert blew_up_on(steep, trajectory(steep, (-4.0, 1.2), "sgd", 1.0, steps=100), 100)


def test_the_finders_text_says_what_its_code_skips():
    # lr_finder skips the first tenth of the points up to the lowest loss, not of the sweep
    nb = nbformat.read(NOTEBOOK, as_version=4)
    text = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    assert "first tenth of the sweep" not in text
    assert "Of the points up to the lowest loss, it ignores the first tenth" in text


def _solution(name):
    """The function `name` defined in one of the notebook's solution cells."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    source = next(c.source for c in nb.cells if f"def {name}(" in c.source and
                  "solution" in c.metadata.get("tags", []))  # fmt: skip
    namespace = {"np": np}
    exec(source.split("\nresult = ")[0], namespace)
    return namespace[name]


def old_steepest(lrs, losses):  # labkit's suggestion before the review: no skip, lowest included
    end = int(np.argmin(losses)) + 1
    return float(lrs[int(np.argmin(np.gradient(np.asarray(losses[:end]), np.log(lrs[:end]))))])


def test_exercise_3s_solution_is_labkits_rule_where_the_old_rule_differs():
    pick = _solution("pick_lr_solution")
    labkit.seed_everything(2)
    data = labkit.load_digits(seed=2)
    finder = lr_finder(labkit.MLP(hidden=(64,)), data.train, "rmsprop", min_lr=1e-5, max_lr=10.0,
                       steps=100, batch_size=32, seed=2)  # fmt: skip
    wobble = _finder_curve(_CURVE_SHAPES[4], 4)[:2]  # the checker's start-up wobble
    edge = (np.geomspace(1e-4, 1.0, 50), np.r_[2.0 - 0.02 * np.arange(40), 1.0, 1.2 + np.arange(9)])
    for lrs, losses in ((finder.lrs, finder.losses), wobble, edge):
        assert pick(lrs, losses) == _steepest(list(lrs), list(losses)) != old_steepest(lrs, losses)
    assert finder.suggested_lr == pick(finder.lrs, finder.losses) > finder.lrs[0]


def test_the_text_states_the_2_sigma_rule_and_the_full_batch_limit_honestly():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    text = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    assert "beyond the noise only when it exceeds $2\\sigma$" in text
    assert "McNemar" in text and "independent" in text
    # the limit of a network whose curvature changes is not 2/curvature at the start
    assert "$2/\\text{curvature}$, which no batch size can pass" not in text
    assert "a full-batch limit set by the curvature along the way" in text
    # the RMSprop replay walks the table's own path (it used to take its own, drifting one)
    assert 'path = rosen_paths["rmsprop"]' in _cell("path = ")
    assert "(4× apart)" not in _cell("faq = ") and "grid_lrs=GRID_LRS" in _cell("faq = ")
