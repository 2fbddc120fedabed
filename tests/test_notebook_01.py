"""Notebook 01 (gradient descent) run headless with papermill: the issue's settings (lr 0.05,
batch 256, 1,000 steps) flag SGD's runs and not the others, a one-step blow-up re-run into the
same out_dir is flagged, the smallest values validation accepts run to the end with sentences
that stay true, and bad values are rejected by name right after the parameters cell."""

from functools import partial
from pathlib import Path

import pytest

from labkit.validate import ConfigError

from notebook_runs import metrics, printed, refused_early, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "01_gradient_descent.ipynb"
REQUIRED = {
    "final_loss_gd",
    "final_loss_sgd",
    "final_loss_minibatch",
    "diverged_sgd",
    "blown_up_runs_sgd",
    "divergence_lr_measured",
    "divergence_lr_predicted",
    "sgd_limit_b1",
    "sgd_run_limit_median_b1",
}
FIGURES = ("race", "race_paths", "gradient_noise", "learning_rates", "noise_floors",
           "bowl_paths", "your_paths", "time_per_sample")  # fmt: skip
START_LOSS = 14.239  # the loss at w0 with seed 0's data
_run = partial(run, NOTEBOOK)
_metrics = metrics
_validate = partial(validate, NOTEBOOK)


@pytest.mark.slow
def test_sgd_blows_up_at_the_issues_settings_then_one_step_of_lr_10_is_flagged(tmp_path):
    out = tmp_path / "run"
    nb = _run(tmp_path, lr=0.05, batch_size=256, steps=1000, optimizer="momentum", seed=0,
              out_dir=str(out))  # fmt: skip
    m = _metrics(out)
    assert m.keys() >= REQUIRED
    assert (m["lr"], m["batch_size"], m["steps"], m["optimizer"], m["seed"]) == (
        0.05, 256, 1000, "momentum", 0,
    )  # fmt: skip
    assert abs(m["divergence_lr_measured"] / m["divergence_lr_predicted"] - 1) < 0.02
    assert 0.07 < m["divergence_lr_predicted"] < 0.095  # 2/λ_max, λ_max ≈ 2 × 3.5²
    # SGD's own limit, printed: about a third of 2/λ_max at B = 1, rising with B; 0.05 lies
    # between SGD's and the others' (the old notebook called this run "SGD bounces more")
    assert m["sgd_limit_b1"] < 0.4 * m["divergence_lr_predicted"]
    assert m["sgd_limit_b1"] < 0.05 < m["sgd_limit_b256"] < m["divergence_lr_predicted"]
    assert m["sgd_run_limit_median_b1"] > m["sgd_limit_b1"]  # measured: one run survives past it
    assert m["diverged_sgd"] and m["blown_up_runs_sgd"] >= 5, "late loss above the start"
    assert not (m["diverged_gd"] or m["diverged_minibatch"])
    assert m["blown_up_runs_minibatch"] == 0
    text = printed(nb)
    assert "SGD has no finite floor to compare" in text and "floor_ratio_mean" not in m
    # GD reaches the minimum to float64's rounding: the excess is never printed negative
    assert m["late_excess_loss_gd"] >= 0 and "excess loss -" not in text and "-0.0" not in text
    assert m["final_loss_gd"] - m["optimal_loss"] < 1e-9
    assert m["final_loss_minibatch"] - m["optimal_loss"] < 0.05
    assert m["samples_seen_gd"] == 4096 * 1000 and m["samples_seen_minibatch"] == 256 * 1000
    assert m["grad_noise_b1"] > m["grad_noise_b16"] > m["grad_noise_b256"]
    assert m["grad_noise_at_opt_b1"] < m["grad_noise_b1"]  # smaller near the minimum
    assert m["per_sample_speedup_b512"] > 4
    assert m["gflops_b512"] > m["gflops_b1"] > 0 and m["matmul_gflops"] > 0
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 5000, name

    # lr 10 (the widget's largest stop) for one step: the loss jumps from 14 to ~712,664, far
    # below the old 10⁶× cut-off, and every method is flagged; re-run into the same out_dir
    nb = _run(tmp_path, lr=10.0, steps=1, out_dir=str(out))
    m = _metrics(out)
    assert m["lr"] == 10.0 and m["steps"] == 1 and m["optimizer"] == "sgd"
    assert m["diverged_gd"] and m["diverged_sgd"] and m["diverged_minibatch"]
    assert 1e3 * START_LOSS < m["final_loss_gd"] < 1e6 * START_LOSS
    assert m["samples_seen_gd"] == 4096
    text = printed(nb)
    assert "after 1 step;" in text and "1 steps" not in text


@pytest.mark.slow
def test_the_smallest_values_run_to_the_end(tmp_path):
    # steps=1 and batch_size=1 are the smallest that validation accepts; lr at the slider's
    # smallest stop, the start point in a corner of the allowed square
    out = tmp_path / "run"
    nb = _run(tmp_path, steps=1, batch_size=1, lr=1e-5, start_x=5.0, start_y=-2.0,
              out_dir=str(out))  # fmt: skip
    m = _metrics(out)
    assert (m["steps"], m["batch_size"], m["samples_seen_sgd"]) == (1, 1, 1)
    assert m["final_loss_gd"] < START_LOSS and not m["diverged_gd"]  # one tiny step, downhill
    text = printed(nb)
    assert "all checks passed" in text
    # no floor where there is none to measure, and no "1 steps", "-0.0" or negative excess
    assert "B = 1: the mini-batch run is SGD" in text and "floor_ratio_mean" not in m
    assert "1 sample seen" in text and "1 samples" not in text and "1 steps" not in text
    assert "-0.0" not in text and "excess loss -" not in text


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr": 20.0}, "lr must be <= 10.0"),
        ({"lr": "0.1"}, "lr must be a finite number"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"batch_size": 4097}, "batch_size must be <= 4096"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"steps": 2.5}, "steps must be an integer"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of 'sgd'"),
        ({"start_x": 6.0}, "start_x must be <= 5.0"),
        ({"start_y": -2.5}, "start_y must be >= -2.0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"out_dir": None}, "out_dir must be a string"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
    ],
)
def test_every_parameter_is_validated_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


def test_the_defaults_validate_and_the_device_is_resolved_once():
    namespace = _validate()
    assert namespace["device"].type in ("cpu", "cuda")


@pytest.mark.slow
def test_a_bad_value_stops_a_papermill_run_right_after_the_parameters(tmp_path):
    refused_early(NOTEBOOK, tmp_path, "steps must be", steps=0)
