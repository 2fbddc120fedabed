"""Notebook 04 (generalization) runs headless: its parameters are honoured or rejected by
name, the smallest accepted values run to the end, and re-runs into one out_dir work."""

from functools import partial
from pathlib import Path

import pytest

from labkit.validate import ConfigError

from notebook_runs import metrics, printed, refused_early, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "04_generalization.ipynb"
REQUIRED = {
    "test_accuracy", "test_precision_macro", "test_recall_macro", "test_f1_macro",
    "cv_accuracy_mean", "cv_accuracy_std", "cv_f1_mean", "gap_baseline", "gap_regularized",
}  # fmt: skip
FIGURES = ("capacity", "learning_curves", "regularization", "early_stopping", "cross_validation")
_run = partial(run, NOTEBOOK)
_metrics = metrics
_validate = partial(validate, NOTEBOOK)


@pytest.mark.slow
def test_other_settings_are_honoured_and_rerun_into_the_same_out_dir(tmp_path):
    out = tmp_path / "run"
    settings = {"optimizer": "adamw", "lr": 0.01, "batch_size": 32, "epochs": 8, "k_folds": 3,
                "seed": 3, "train_size": 200, "label_noise": 0.3, "weight_decay": 0.05,
                "dropout": 0.5, "patience": 2, "seeds": 3}  # fmt: skip
    nb = _run(tmp_path, out_dir=str(out), **settings)
    metrics = _metrics(out)
    # The recipes were compared fold by fold (regularized - baseline), chosen by the
    # one-standard-error rule, and the choice refit on training and validation rows together.
    lead = metrics["cv_accuracy_mean_regularized"] - metrics["cv_accuracy_mean_baseline"]
    assert metrics["cv_difference_mean"] == pytest.approx(lead, abs=1e-9)
    beyond = metrics["cv_difference_mean"] > metrics["cv_difference_se"]
    assert (metrics["chosen_model"] == "regularized") == beyond and metrics["refit_rows"] == 1437
    # Every verdict carries its noise band: at least the sampling error on 360 digits.
    p = metrics["val_accuracy_baseline"]  # the noisy baseline's, where its band is taken
    assert metrics["noise_band_noisy"] >= (p * (1 - p) / 360) ** 0.5 - 1e-12
    assert metrics["noise_band_clean"] > 0
    text = printed(nb)
    assert "draws of this one recipe overfitting" in text and "(noise ±" in text
    assert "its training accuracy" in text and "wrong labels it predicts the true digit" in text
    assert metrics.keys() >= REQUIRED and {k: metrics[k] for k in settings} == settings
    assert all(0 < metrics[k] <= 1 for k in REQUIRED if k.startswith(("test_", "cv_")))
    assert 0 <= metrics["cv_accuracy_std"] < 0.1 and metrics["cv_accuracy_mean"] > 0.8
    chosen = metrics["chosen_model"]
    assert metrics["cv_accuracy_mean"] == metrics[f"cv_accuracy_mean_{chosen}"]
    assert all(-1 <= metrics[k] <= 1 for k in ("gap_baseline", "gap_regularized"))
    assert metrics["chosen_model"] in ("baseline", "regularized") and not metrics["diverged"]
    assert 1 <= metrics["early_stopping_best_epoch"] <= metrics["early_stopping_epoch"] <= 8
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 5000, name
    # Again into the same out_dir, with a learning rate that makes SGD diverge: the runs say
    # so and the notebook still runs to the end, rewriting metrics.json.
    nb = _run(tmp_path, out_dir=str(out), **(settings | {"optimizer": "sgd", "lr": 10.0}))
    metrics = _metrics(out)
    assert metrics["diverged"] and (metrics["optimizer"], metrics["lr"]) == ("sgd", 10.0)
    assert all(0 <= metrics[k] <= 1 for k in REQUIRED if k.startswith("test_"))
    summaries = [line for line in printed(nb).splitlines() if "runs diverged" in line]
    assert summaries and len(summaries) <= 8, summaries  # one line per table, not one per run


@pytest.mark.slow
def test_the_smallest_accepted_values_run_to_the_end(tmp_path):
    out = tmp_path / "run"
    smallest = {"epochs": 1, "batch_size": 1, "k_folds": 2, "patience": 1, "train_size": 50,
                "label_noise": 0.0, "weight_decay": 0.0, "dropout": 0.0, "seeds": 2}  # fmt: skip
    nb = _run(tmp_path, out_dir=str(out), **smallest)
    metrics = _metrics(out)
    assert metrics["k_folds"] == 2 and metrics["epochs"] == 1 and metrics["batch_size"] == 1
    assert metrics["early_stopping_epoch"] == metrics["early_stopping_best_epoch"] == 1
    assert metrics.keys() >= REQUIRED and 0 < metrics["test_accuracy"] <= 1
    checked = next(c for c in nb.cells if "## Check yourself" in c.source)
    passed = nb.cells[nb.cells.index(checked) + 1].outputs[0]["text"]
    assert passed.startswith("all checks passed")
    text = printed(nb)
    assert "label_noise is 0: no label was changed" in text  # a line, not an empty figure
    assert "no label is wrong, so every training error is a real one" in text


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"k_folds": 1}, "k_folds must be an integer >= 2"),
        ({"k_folds": 200}, r"k_folds must be at most \d+, the smallest class count"),
        ({"k_folds": 2.0}, "k_folds must be an integer"),
        ({"dropout": 0.95}, "dropout must be <= 0.9"),
        ({"dropout": 1.0}, "dropout must be <= 0.9"),
        ({"dropout": -0.1}, "dropout must be >= 0"),
        ({"weight_decay": -1e-3}, "weight_decay must be >= 0"),
        ({"weight_decay": float("nan")}, "weight_decay must be a finite number"),
        ({"label_noise": 0.6}, "label_noise must be <= 0.5"),
        ({"patience": 0}, "patience must be an integer >= 1"),
        ({"train_size": 10}, "train_size must be an integer >= 50"),
        ({"train_size": 5000}, "train_size must be at most 1077"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"optimizer": "adamm"}, "optimizer must be one of 'sgd'"),
        ({"seed": "0"}, "seed must be an integer"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seeds": 1}, "seeds must be an integer >= 2"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
        ({"out_dir": None}, "out_dir must be a string"),
    ],
)
def test_bad_values_are_refused_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


def test_validation_accepts_the_edges():
    smallest = _validate()["smallest"]  # the smallest class count of train + val
    namespace = _validate(k_folds=smallest, dropout=0.9, label_noise=0.5, train_size=1077,
                          weight_decay=1.0)  # fmt: skip
    assert namespace["config"].weight_decay == 0.0  # the baseline's; the regularized one's apart
    assert namespace["device"].type in ("cpu", "cuda") and smallest > 100


@pytest.mark.slow
def test_a_bad_value_stops_a_papermill_run_right_after_the_parameters(tmp_path):
    refused_early(NOTEBOOK, tmp_path, r"dropout must be <= 0\.9", dropout=0.95)
