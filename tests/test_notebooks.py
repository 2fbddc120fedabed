"""Notebooks run headless with papermill: parameters are honoured or rejected by name,
every value validation accepts runs to the end, and re-runs into the same out_dir work."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import papermill
import pytest
import torch

from labkit.checkpoint import load_model
from labkit.models import MLP, SmallCNN
from labkit.optim import OPTIMIZERS
from labkit.sweep import execute
from labkit.train import load_checkpoint
from labkit.validate import ConfigError

import notebook_runs

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
WELCOME = NOTEBOOKS / "00_welcome.ipynb"
PIPELINE = NOTEBOOKS / "03_training_pipeline.ipynb"
TEMPLATE = NOTEBOOKS / "_template.ipynb"
REQUIRED = {"test_accuracy", "test_precision_macro", "test_recall_macro", "test_f1_macro"}
_metrics, _validate = notebook_runs.metrics, notebook_runs.validate


def _run(tmp_path, notebook=PIPELINE, **parameters):
    return notebook_runs.run(notebook, tmp_path, **parameters)


def _text(*cells):
    """What the cells printed or showed as text."""
    return "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in cells
        for o in c.get("outputs", [])
    )


@pytest.mark.parametrize(
    "path", [*sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), TEMPLATE], ids=lambda p: p.stem
)
def test_notebook_contract(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    number = "NN" if path == TEMPLATE else path.name[:2]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {number} · ")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = papermill.inspect_notebook(str(path))
    assigned = [line for line in tagged[0].source.splitlines() if line and line[0].isalpha()]
    assert len(params) == len(assigned), "papermill could not parse every parameter line"
    assert {"seed", "out_dir", "device"} <= params.keys()
    assert all(p["inferred_type_name"] != "None" and p["help"] for p in params.values())
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "commit notebooks with outputs"
    assert any("## Check yourself" in c.source for c in nb.cells if c.cell_type == "markdown")
    # Exercises: each answer cell calls the checker and is followed by its hidden solution,
    # which runs a reference answer through the same checker.
    exercises = [i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]
    assert 1 <= len(exercises) <= 3 if path == TEMPLATE else 2 <= len(exercises) <= 3
    for i in exercises:
        answer, sol = nb.cells[i], nb.cells[i + 1]
        assert "labkit.exercises.check(" in answer.source and "YOUR " in answer.source
        assert {"solution", "hide-cell"} <= set(sol.metadata.get("tags", []))
        assert sol.metadata.get("jupyter", {}).get("source_hidden") is True
        assert "assert" in sol.source and "labkit.exercises.check(" in sol.source
        assert "not attempted" in _text(answer)  # the committed notebook leaves it open


@pytest.mark.slow
def test_pipeline_runs_one_epoch_with_every_optimizer(tmp_path):
    # epochs=1 and batch_size=1 are the smallest values validation accepts: they run to the end
    # (without the demonstrations, which extra seeds and a resume would multiply).
    # Two runs at a time, one thread each, through the sweep's own runner.
    runs = []
    for i, optimizer in enumerate(OPTIMIZERS):
        lr = {"sgd": 0.01, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05}.get(optimizer, 3e-3)
        runs.append(dict(model=("mlp", "cnn")[i % 2], optimizer=optimizer, lr=lr, epochs=1,
                         batch_size=1 if optimizer == "sgd" else 32, seed=i))  # fmt: skip
    dirs = [tmp_path / r["optimizer"] for r in runs]
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        outcomes = list(
            pool.map(
                execute,
                [PIPELINE] * len(runs),
                [r | {"demos": False} for r in runs],
                dirs,
                [1] * len(runs),
            )
        )
    for run, outcome, out in zip(runs, outcomes, dirs, strict=True):
        assert outcome.status == "ok", (run, outcome.error)
        metrics = _metrics(out)
        assert metrics.keys() >= REQUIRED and all(0 <= metrics[k] <= 1 for k in REQUIRED)
        assert {k: metrics[k] for k in run} == run
        assert metrics["weight_decay"] == (0.01 if run["optimizer"] == "adamw" else 0.0)
        assert metrics["test_accuracy"] > 0.6
        assert metrics["final_train_loss"] < metrics["initial_loss"]
        assert isinstance(load_model(out / "model.pt"), MLP if run["model"] == "mlp" else SmallCNN)


@pytest.mark.slow
def test_pipeline_reruns_into_the_same_out_dir(tmp_path):
    # The README's command, run twice (the second run used to crash), then with another lr.
    # The MLP: the CNN of the defaults runs under nbval.
    out = tmp_path / "run"
    for lr in (3e-3, 3e-3, 1e-2):
        _run(tmp_path, model="mlp", optimizer="adam", lr=lr, epochs=3, out_dir=str(out))
        metrics = _metrics(out)
        assert metrics["lr"] == lr and metrics["epochs"] == 3 and metrics["resume_matches"]
        for name in ("model.pt", "confusion_matrix.png", "history.png", "checkpoints/last.pt"):
            assert (out / name).stat().st_size > 1000, name
    assert metrics["train_wall_seconds"] >= metrics["train_seconds"] > 0


@pytest.mark.slow
def test_pipeline_runs_to_the_end_when_the_learning_rate_diverges(tmp_path):
    out = tmp_path / "run"
    _run(tmp_path, optimizer="sgd", lr=10.0, epochs=1, out_dir=str(out))
    metrics = _metrics(out)
    assert metrics["diverged"] is True and metrics["test_accuracy"] < 0.5


@pytest.mark.slow
def test_pipeline_resume_continues_and_refuses_other_settings(tmp_path):
    # demos=False, as sweeps run it: the same training and metrics, no demonstrations.
    out = tmp_path / "run"
    _run(tmp_path, model="mlp", lr=0.01, epochs=2, demos=False, out_dir=str(out))
    first = load_checkpoint(out / "checkpoints" / "last.pt")["history"]
    metrics = _metrics(out)
    assert metrics.keys() >= REQUIRED and "baseline_test_accuracy" not in metrics
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "metrics.json", "model.pt"]
    _run(tmp_path, model="mlp", lr=0.01, epochs=4, resume=True, demos=False, out_dir=str(out))
    resumed = load_checkpoint(out / "checkpoints" / "last.pt")["history"]
    assert resumed["epoch"] == [1, 2, 3, 4] and _metrics(out)["epochs"] == 4
    assert resumed["seconds"][:2] == first["seconds"], "epochs 1-2 came from the checkpoint"
    with pytest.raises(papermill.PapermillExecutionError, match=r"lr=0\.01 \(now 0\.02\)"):
        _run(tmp_path, model="mlp", lr=0.02, epochs=4, resume=True, demos=False, out_dir=str(out))


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"optimizer": "adamm"}, "optimizer must be one of 'sgd'"),
        ({"model": "resnet"}, "model must be one of 'mlp', 'cnn'"),
        ({"lr": -0.1}, "lr must be a finite number > 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ({"resume": "yes"}, "resume must be True or False"),
        ({"demos": 1}, "demos must be True or False"),
        ({"out_dir": 3}, "out_dir must be a string"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
    ],
)
def test_pipeline_validates_every_parameter_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(PIPELINE, **parameters)


def test_pipeline_validation_accepts_the_defaults_and_resolves_the_device_once():
    namespace = _validate(PIPELINE, weight_decay=0.1, optimizer="adamw")
    assert namespace["config"].weight_decay == 0.1 and namespace["device"].type in ("cpu", "cuda")


def test_welcome_validates_its_parameters():
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1"):
        _validate(WELCOME, epochs=0)


@pytest.mark.slow
def test_a_bad_value_stops_a_papermill_run_right_after_the_parameters(tmp_path):
    cuda = torch.cuda.is_available()
    parameters, message = (
        ({"device": "cuda:99"}, "cuda") if cuda else ({"device": "cuda"}, "CUDA is not available")
    )
    notebook_runs.refused_early(PIPELINE, tmp_path, message, **parameters)


@pytest.mark.slow
def test_welcome_runs_with_one_epoch_and_writes_its_facts(tmp_path):
    out = tmp_path / "run"
    _run(tmp_path, WELCOME, epochs=1, out_dir=str(out))
    metrics = _metrics(out)
    assert metrics["diverged"] is False and metrics["device"] == "cpu"
    assert 0 < metrics["val_accuracy"] <= 1 and 0 < metrics["test_accuracy"] <= 1
