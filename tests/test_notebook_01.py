"""Notebook 01 (gradient descent) run headless with papermill: non-default parameters are
honoured and written to metrics.json, a re-run into the same out_dir (with a learning rate
that diverges everywhere) works, the smallest values validation accepts run to the end, and
bad values are rejected by name right after the parameters cell."""

from functools import partial
from pathlib import Path

import pytest

from labkit.validate import ConfigError

from notebook_runs import metrics, refused_early, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "01_gradient_descent.ipynb"
REQUIRED = {
    "final_loss_gd",
    "final_loss_sgd",
    "final_loss_minibatch",
    "divergence_lr_measured",
    "divergence_lr_predicted",
}
FIGURES = ("race", "race_paths", "gradient_noise", "learning_rates", "bowl_paths", "your_paths",
           "time_per_sample")  # fmt: skip
_run = partial(run, NOTEBOOK)
_metrics = metrics
_validate = partial(validate, NOTEBOOK)


@pytest.mark.slow
def test_non_default_parameters_then_a_divergent_rerun_into_the_same_out_dir(tmp_path):
    out = tmp_path / "run"
    _run(tmp_path, lr=0.01, batch_size=64, steps=400, optimizer="momentum", seed=3,
         out_dir=str(out))  # fmt: skip
    m = _metrics(out)
    assert m.keys() >= REQUIRED
    assert (m["lr"], m["batch_size"], m["steps"], m["optimizer"], m["seed"]) == (
        0.01, 64, 400, "momentum", 3,
    )  # fmt: skip
    assert abs(m["divergence_lr_measured"] / m["divergence_lr_predicted"] - 1) < 0.02
    assert 0.07 < m["divergence_lr_predicted"] < 0.095  # 2/λ_max, λ_max ≈ 2 × 3.5²
    assert not (m["diverged_gd"] or m["diverged_sgd"] or m["diverged_minibatch"])
    # every method ends near the noise floor 0.25; per step, GD is closest to the optimum
    for key in ("final_loss_gd", "final_loss_sgd", "final_loss_minibatch"):
        assert m["optimal_loss"] <= m[key] < m["optimal_loss"] + 0.5, key
    assert m["final_loss_gd"] - m["optimal_loss"] < 1e-3
    assert m["samples_seen_gd"] == 4096 * 400 and m["samples_seen_minibatch"] == 64 * 400
    assert m["steps_taken_gd"] == m["steps_taken_sgd"] == m["steps_taken_minibatch"] == 400
    assert m["grad_noise_b1"] > m["grad_noise_b16"] > m["grad_noise_b256"]
    assert m["grad_noise_at_opt_b1"] < m["grad_noise_b1"]  # smaller near the minimum
    assert m["per_sample_speedup_b512"] > 4
    assert m["gflops_b512"] > m["gflops_b1"] > 0 and m["matmul_gflops"] > 0
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 5000, name

    # lr 10 (the widget's largest stop) diverges everywhere: flagged, finite, no crash
    _run(tmp_path, lr=10.0, out_dir=str(out))
    m = _metrics(out)
    assert m["lr"] == 10.0 and m["steps"] == 300 and m["optimizer"] == "sgd"
    assert m["diverged_gd"] and m["diverged_sgd"] and m["diverged_minibatch"]
    assert m["final_loss_gd"] > 1e6 * m["optimal_loss"]
    assert 1 <= m["steps_taken_gd"] < 300 and m["samples_seen_gd"] == 4096 * m["steps_taken_gd"]


@pytest.mark.slow
def test_the_smallest_values_run_to_the_end(tmp_path):
    # steps=1 and batch_size=1 are the smallest that validation accepts; lr at the slider's
    # smallest stop, the start point in a corner of the allowed square
    out = tmp_path / "run"
    nb = _run(tmp_path, steps=1, batch_size=1, lr=1e-5, start_x=5.0, start_y=-2.0,
              out_dir=str(out))  # fmt: skip
    m = _metrics(out)
    assert (m["steps"], m["batch_size"], m["samples_seen_sgd"]) == (1, 1, 1)
    assert m["final_loss_gd"] < 14.3 and not m["diverged_gd"]  # one tiny step, downhill
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "all checks passed" in text


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
