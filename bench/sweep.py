"""Sweep throughput: 8 short runs of notebook 03 with `--jobs 1` vs `--jobs 2`.

Both sweeps run the same grid (lr x batch size, 2 epochs, demos=False as sweeps run
notebook 03) back to back in one process, each into a fresh folder, so the ratio compares
like with like on this machine. The per-run overhead of papermill and a kernel start is
measured with a notebook that does nothing and set beside the training time notebook 03
reports (`train_wall_seconds`).
Target on 2 cores: `--jobs 2` takes <= 0.65x the wall time of `--jobs 1`.

    python bench/sweep.py [--epochs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from labkit.sweep import sweep

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "03_training_pipeline.ipynb"
GRID = {"lr": [1e-3, 3e-3, 1e-2, 3e-2], "batch_size": [32, 64], "demos": [False]}


# What every run of notebook 03 does before it trains, timed in a fresh Python: the imports
# (torch, scikit-learn through the data split and metrics) and the first optimizer, whose
# construction imports torch._dynamo.
STARTUP = """
import labkit
data = labkit.load_digits()
labkit.make_optimizer("adam", labkit.build_model("mlp").parameters(), 1e-3)
"""


def timed(notebook: Path, grid: dict, out: Path, jobs: int):
    start = time.perf_counter()
    table = sweep(notebook, grid, out, jobs=jobs, show_progress=False)
    return time.perf_counter() - start, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    grid = {**GRID, "epochs": [args.epochs]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        empty = new_notebook(
            cells=[new_code_cell("out_dir: str = ''", metadata={"tags": ["parameters"]})]
        )
        empty.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(empty, tmp / "empty.ipynb")
        _, bare = timed(tmp / "empty.ipynb", {}, tmp / "empty", 1)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", STARTUP], check=True)
        startup = time.perf_counter() - start
        results = {jobs: timed(NOTEBOOK, grid, tmp / f"jobs{jobs}", jobs) for jobs in (1, 2)}
    (wall1, table1), (wall2, table2) = results[1], results[2]
    for table in (table1, table2):
        assert (table["status"] == "ok").all(), table[["run_id", "status", "error"]]
    runs = len(table1)
    print(f"{runs} runs of {NOTEBOOK.name} ({args.epochs} epochs each), wall seconds:")
    print(f"  --jobs 1   {wall1:7.1f}")
    print(f"  --jobs 2   {wall2:7.1f}   ratio {wall2 / wall1:.2f}  (target <= 0.65)")
    run = table1["duration_s"].mean()
    train = table1["train_wall_seconds"].mean()
    print(f"per run (--jobs 1): {run:.1f} s, of which training {train:.1f} s;")
    print(
        f"  papermill + kernel start alone (an empty notebook): {bare['duration_s'].iloc[0]:.1f} s"
    )
    print(f"  a fresh Python importing labkit, loading the digits, one optimizer: {startup:.1f} s")


if __name__ == "__main__":
    main()
