"""What the notebook tests share: a papermill run, its metrics.json and printed text, and a
notebook's parameters and validate cells executed in-process (no kernel per bad value)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest


def run(
    notebook: Path, tmp_path: Path, *, kernel: str = "labkit", **parameters: Any
) -> nbformat.NotebookNode:
    """Execute `notebook` headless with `parameters` into tmp_path/out.ipynb on `kernel` (the
    fast-start `labkit` kernel unless told); return it."""
    return papermill.execute_notebook(
        str(notebook), str(tmp_path / "out.ipynb"), parameters=parameters,
        cwd=str(tmp_path), progress_bar=False, kernel_name=kernel,
        request_save_on_cell_execute=False, shutdown_kernel="immediate",  # as sweeps run them
    )  # fmt: skip


def refused_early(notebook: Path, tmp_path: Path, match: str, **parameters: Any) -> None:
    """A papermill run with a bad value stops right after the parameters cell, naming it."""
    with pytest.raises(papermill.PapermillExecutionError, match=match) as info:
        run(notebook, tmp_path, **parameters)
    assert info.value.exec_count <= 3, "rejected right after the parameters cell"


def metrics(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / "metrics.json").read_text())


def checks_passed(nb: nbformat.NotebookNode) -> bool:
    """Whether the cell after the "## Check yourself" heading printed "all checks passed"."""
    checked = next(c for c in nb.cells if "## Check yourself" in c.source)
    return nb.cells[nb.cells.index(checked) + 1].outputs[0]["text"].startswith("all checks passed")


def printed(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed to stdout."""
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def validate(notebook: Path, **parameters: Any) -> dict[str, Any]:
    """Run the parameters and validate cells in-process, with `parameters` injected after the
    first as papermill does: the same checks, without a kernel per bad value."""
    nb = nbformat.read(notebook, as_version=4)
    cell = {t: next(c for c in nb.cells if t in c.metadata.get("tags", [])).source
            for t in ("parameters", "validate")}  # fmt: skip
    namespace: dict[str, Any] = {}
    exec(cell["parameters"], namespace)
    namespace.update(parameters)
    exec("\n".join(x for x in cell["validate"].splitlines() if not x.startswith("%")), namespace)
    return namespace
