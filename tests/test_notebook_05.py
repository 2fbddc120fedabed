"""Notebook 05 (experiments) runs headless: a tiny sweep over notebook 03 with a learning rate
that notebook refuses finishes with a failed row, re-runs into the same out_dir skip the
finished runs, and bad list parameters are refused by name right after the parameters."""

from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from labkit.validate import ConfigError

from notebook_runs import metrics, printed, refused_early, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "05_experiments.ipynb"
REQUIRED = {
    "runs", "failed", "best_lr", "best_batch_size", "best_optimizer", "best_test_accuracy",
    "seed_std", "seed_mean", "reproducible", "lrs", "batch_sizes", "optimizers", "seeds",
}  # fmt: skip
FIGURES = ("heatmaps", "lr_curves", "seeds")
_run = partial(run, NOTEBOOK)
_metrics = metrics
_validate = partial(validate, NOTEBOOK)
_printed = printed


@pytest.mark.slow
def test_a_tiny_sweep_with_a_refused_lr_finishes_and_a_rerun_skips_finished_runs(tmp_path):
    # Two grid points, given as papermill's -p passes lists (strings): lr=0, which notebook 03
    # refuses (a failed row, not a crashed notebook), and one that trains; two seeds.
    out = tmp_path / "run"
    settings = {"lrs": "0,0.003", "batch_sizes": "64", "optimizers": "adam", "epochs": 1,
                "seeds": 2, "jobs": 2}  # fmt: skip
    nb = _run(tmp_path, out_dir=str(out), **settings)
    metrics = _metrics(out)
    assert metrics.keys() >= REQUIRED
    assert (metrics["runs"], metrics["failed"], metrics["seeds"]) == (2, 1, 2)
    listed = (metrics["lrs"], metrics["batch_sizes"], metrics["optimizers"])
    assert listed == ("0,0.003", "64", "adam")
    assert (metrics["best_lr"], metrics["best_batch_size"]) == (0.003, 64)
    assert metrics["best_optimizer"] == "adam" and metrics["reproducible"] is True
    assert 0.3 < metrics["best_test_accuracy"] <= 1 and 0 <= metrics["seed_std"] < 0.2
    assert metrics["refused_run_failed"] is True
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 5000, name
    table = pd.read_csv(out / "sweep" / "results.csv")
    refused = table[table.lr == 0].iloc[0]
    assert refused.status == "failed" and "lr must be a finite number > 0" in refused.error
    assert (out / "sweep" / refused.run_id / "run.log").stat().st_size > 0
    assert sorted(table.seed) == [0, 0, 1]  # the grid's two runs and the second seed
    printed = _printed(nb)
    assert "1 of 2 runs already finished" in printed  # the seed sweep skipped seed 0
    assert "all checks passed" in printed and "metrics identical, to the last digit" in printed

    # Again into the same out_dir: every grid and seed run is found finished (the failed one is
    # not retried), only the deliberate repeat runs, and the numbers are the same.
    nb = _run(tmp_path, out_dir=str(out), **settings)
    again = _metrics(out)
    assert "2 of 2 runs already finished" in _printed(nb)
    rerun = pd.read_csv(out / "sweep" / "results.csv")
    assert rerun.duration_s.tolist() == table.duration_s.tolist(), "no run started again"
    same = ("best_test_accuracy", "seed_mean", "seed_std", "runs", "failed", "reproducible")
    assert {k: again[k] for k in same} == {k: metrics[k] for k in same}


@pytest.mark.slow
def test_a_sweep_where_no_run_finishes_still_runs_to_the_end(tmp_path):
    # Every learning rate refused: nothing to choose, repeat or spread; the notebook says so.
    out = tmp_path / "run"
    nb = _run(tmp_path, lrs="0", batch_sizes="64", optimizers="adam", epochs=1, seeds=2,
              out_dir=str(out))  # fmt: skip
    metrics = _metrics(out)
    assert (metrics["runs"], metrics["failed"], metrics["refused_run_failed"]) == (1, 1, True)
    assert not metrics.keys() & {"best_lr", "reproducible", "seed_std"}
    printed = _printed(nb)
    assert "no run finished without failing or diverging, so no setting to repeat" in printed
    assert "all checks passed" in printed


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"lrs": "0.01,abc"}, "lrs must be a finite number; got 'abc'"),
        ({"lrs": ""}, "lrs needs at least one value"),
        ({"lrs": []}, "lrs needs at least one value"),
        ({"lrs": [0.01, 0.01]}, r"lrs lists a value twice: \[0.01, 0.01\]"),
        ({"lrs": [float("inf")]}, "lrs must be a finite number; got inf"),
        ({"lrs": [True]}, "lrs must be a finite number; got True"),
        ({"batch_sizes": "16,0"}, "batch_sizes must be an integer >= 1; got 0"),
        ({"batch_sizes": [16.5]}, "batch_sizes must be an integer; got 16.5"),
        ({"batch_sizes": "16, 16"}, "batch_sizes lists a value twice"),
        ({"optimizers": "sgd,adamm"}, "optimizers must be one of 'sgd', .*; got 'adamm'"),
        ({"optimizers": [3]}, "optimizers must be one of"),
        ({"model": "resnet"}, "model must be one of 'mlp', 'cnn'"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"jobs": 0}, "jobs must be an integer >= 1"),
        ({"seeds": 1}, "seeds must be an integer >= 2"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
        ({"out_dir": None}, "out_dir must be a string"),
    ],
)
def test_bad_values_are_refused_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, ([0.001, 0.02, 0.4, 8.0], [16, 64], ["sgd", "adam"])),
        ({"lrs": "0.001, 0.01", "batch_sizes": "32,128", "optimizers": "sgd, adamw"},
         ([0.001, 0.01], [32, 128], ["sgd", "adamw"])),
        ({"lrs": "[0.1, 1]", "batch_sizes": "(8)", "optimizers": "['adam', \"rmsprop\"]"},
         ([0.1, 1.0], [8], ["adam", "rmsprop"])),
        ({"lrs": 0.01, "batch_sizes": 32, "optimizers": "adam"}, ([0.01], [32], ["adam"])),
        ({"lrs": (0, 1e-3)}, ([0.0, 0.001], [16, 64], ["sgd", "adam"])),  # 0: 03 decides
    ],
)  # fmt: skip
def test_list_parameters_take_lists_strings_and_single_values(parameters, expected):
    namespace = _validate(**parameters)
    assert (namespace["lrs"], namespace["batch_sizes"], namespace["optimizers"]) == expected
    assert all(isinstance(lr, float) for lr in namespace["lrs"])
    assert namespace["NOTEBOOK_03"].is_file() and namespace["device"].type in ("cpu", "cuda")


@pytest.mark.slow
def test_a_bad_value_stops_a_papermill_run_right_after_the_parameters(tmp_path):
    refused_early(NOTEBOOK, tmp_path, "batch_sizes must be", batch_sizes="16,0")
