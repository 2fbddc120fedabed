"""Notebooks run headless with papermill: parameters are honoured or rejected by name."""

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from labkit.checkpoint import load_model
from labkit.models import MLP

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
PIPELINE = NOTEBOOKS / "03_training_pipeline.ipynb"
REQUIRED = {"test_accuracy", "test_precision_macro", "test_recall_macro", "test_f1_macro"}


def _run(tmp_path, **parameters):
    return papermill.execute_notebook(
        str(PIPELINE), str(tmp_path / "out.ipynb"), parameters=parameters,
        cwd=str(tmp_path), progress_bar=False, kernel_name="python3",
    )  # fmt: skip


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_notebook_contract(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.name[:2]} · ")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = papermill.inspect_notebook(str(path))
    assigned = [line for line in tagged[0].source.splitlines() if line and line[0].isalpha()]
    assert len(params) == len(assigned), "papermill could not parse every parameter line"
    assert {"seed", "out_dir"} <= params.keys()
    assert all(p["inferred_type_name"] != "None" and p["help"] for p in params.values())
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "commit notebooks with outputs"
    assert any("assert" in c.source for c in code[-2:]), "end with check-yourself assertions"


def test_pipeline_with_other_parameters_writes_metrics_and_model(tmp_path):
    out = tmp_path / "run"
    _run(tmp_path, model="mlp", optimizer="momentum", lr=0.05, batch_size=64, epochs=8,
         seed=3, out_dir=str(out))  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.keys() >= REQUIRED
    assert (metrics["model"], metrics["optimizer"], metrics["lr"]) == ("mlp", "momentum", 0.05)
    assert (metrics["batch_size"], metrics["epochs"], metrics["seed"]) == (64, 8, 3)
    assert all(0 <= metrics[k] <= 1 for k in REQUIRED)
    assert metrics["test_accuracy"] > 0.9 and metrics["resume_matches"] is True
    assert isinstance(load_model(out / "model.pt"), MLP)
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    assert (out / "checkpoints" / "last.pt").exists()


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"optimizer": "adamm"}, "optimizer must be one of 'sgd'"),
        ({"model": "resnet"}, "model must be one of 'mlp', 'cnn'"),
        ({"lr": -0.1}, "lr must be a finite number > 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ],
)
def test_pipeline_rejects_bad_parameters_by_name(tmp_path, parameters, message):
    with pytest.raises(papermill.PapermillExecutionError, match=message) as info:
        _run(tmp_path, **parameters)
    assert info.value.exec_count <= 3, "rejected right after the parameters cell"
