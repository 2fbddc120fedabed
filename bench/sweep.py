"""Sweep throughput: 8 short runs of notebook 03, fresh `python3` kernels vs the `labkit`
kernel (forked from a warm parent), each with `--jobs 1` and `--jobs 2`.

All four sweeps run the same grid (lr x batch size, 2 epochs, demos=False as sweeps run
notebook 03) back to back in one process, each into a fresh folder and in a fresh worker
pool (so the `labkit` sweeps pay their warm parent's start-up once, inside the timing),
and the ratios compare like with like on this machine. A run's cost is also split into
training (`train_wall_seconds`, which notebook 03 reports) and everything else.
Targets on 2 cores: `--jobs 2` <= 0.65x the wall time of `--jobs 1`; the `labkit` kernel
<= 0.35x the wall time of fresh kernels.

    python bench/sweep.py [--epochs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from labkit.sweep import sweep

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "03_training_pipeline.ipynb"
GRID = {"lr": [1e-3, 3e-3, 1e-2, 3e-2], "batch_size": [32, 64], "demos": [False]}
KERNELS = ("python3", "labkit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    grid = {**GRID, "epochs": [args.epochs]}
    wall, tables = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for kernel in KERNELS:
            for jobs in (1, 2):
                start = time.perf_counter()
                table = sweep(NOTEBOOK, grid, Path(tmp) / f"{kernel}-{jobs}", jobs=jobs,
                              kernel=kernel, show_progress=False)  # fmt: skip
                wall[kernel, jobs] = time.perf_counter() - start
                assert (table["status"] == "ok").all(), table[["run_id", "status", "error"]]
                tables[kernel, jobs] = table
    runs = len(tables["python3", 1])
    print(f"{runs} runs of {NOTEBOOK.name} ({args.epochs} epochs, demos=False), wall seconds:")
    print(f"  {'kernel':8} {'--jobs 1':>9} {'--jobs 2':>9}  jobs 2 / jobs 1 (target <= 0.65)")
    for kernel in KERNELS:
        one, two = wall[kernel, 1], wall[kernel, 2]
        print(f"  {kernel:8} {one:9.1f} {two:9.1f}  {two / one:.2f}")
    for jobs in (1, 2):
        ratio = wall["labkit", jobs] / wall["python3", jobs]
        print(f"labkit / python3 at --jobs {jobs}: {ratio:.2f} (target <= 0.35)")
    print("per run at --jobs 1 (sweep wall time / runs; median run; of which training):")
    for kernel in KERNELS:
        table = tables[kernel, 1]
        print(f"  {kernel:8} {wall[kernel, 1] / runs:5.1f} s  {table['duration_s'].median():5.1f} s"
              f"  {table['train_wall_seconds'].median():5.2f} s")  # fmt: skip
    same = [(tables["python3", 1][c] == tables["labkit", 1][c]).all() for c in ("test_accuracy",)]
    print(f"same test accuracies with both kernels: {all(same)}")


if __name__ == "__main__":
    main()
