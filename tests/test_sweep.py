"""labkit.sweep and `labkit sweep`: a grid through papermill, failures kept, finished runs kept.

The runs execute a tiny notebook (no torch import) so each kernel costs about a second.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.cli import main
from labkit.sweep import check_grid, parse_value, run_id, summary, sweep
from labkit.validate import ConfigError

from servers import alive

PARAMETERS = """\
lr: float = 0.1  # must be > 0
steps: int = 2  # how many
name: str = "a"  # a label
sleep: float = 0.0  # seconds to wait after writing pid
seed: int = 0  # unused
die: bool = False  # kill the kernel
out_dir: str = ""  # where metrics.json goes"""

BODY = """\
import json, os, signal, time
from pathlib import Path
if die:
    os.kill(os.getpid(), signal.SIGKILL)
if lr <= 0:
    raise ValueError(f"lr must be > 0; got {lr}")
if out_dir:
    Path(out_dir, "pid").write_text(str(os.getpid()))
time.sleep(sleep)
print("training", name, lr)
metrics = {"score": lr * steps, "threads": int(os.environ["OMP_NUM_THREADS"]), "name": name}
if out_dir:
    Path(out_dir, "metrics.json").write_text(json.dumps(metrics))"""


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Path:
    nb = new_notebook(cells=[new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})])
    nb.cells.append(new_code_cell(BODY))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python", "language": "python"}
    path = tmp_path_factory.mktemp("nb") / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize(
    "text", ["1", "-1", "0", "1e-3", "-1e-3", "3.0", "1_000", "True", "False", "None", "adam",
             "0x10", "inf", "-inf", "nan", "1e", ""],
)  # fmt: skip
def test_values_parse_as_papermill_parses_them(text):
    from papermill.cli import _resolve_type

    ours, theirs = parse_value(text), _resolve_type(text)
    assert type(ours) is type(theirs)
    assert ours == theirs or (isinstance(ours, float) and math.isnan(ours) and math.isnan(theirs))


def test_run_ids_are_readable_stable_and_never_shared():
    assert run_id({"lr": 0.01, "optimizer": "adam"}) == "lr=0.01_optimizer=adam"
    assert run_id({"lr": -1e-3}) == "lr=-0.001"
    assert run_id({}) == "defaults"
    a, b = run_id({"name": "a/b"}), run_id({"name": "a-b"})
    assert a != b and "/" not in a and a == run_id({"name": "a/b"})
    assert len(run_id({"name": "x" * 500})) < 120


DECLARED = {"lr": "float", "steps": "int", "name": "str", "flag": "bool",
            "wd": "Optional[float]", "free": "None", "out_dir": "str"}  # fmt: skip


def test_grid_values_are_checked_against_the_declared_types():
    checked = check_grid({"lr": [1, 0.5], "wd": [None, 0], "flag": [True], "free": [[1]]}, DECLARED)
    assert checked == {"lr": [1.0, 0.5], "wd": [None, 0.0], "flag": [True], "free": [[1]]}
    assert isinstance(checked["lr"][0], float)
    bad = [
        ({"lrr": [1]}, "unknown parameter 'lrr'; the notebook takes lr: float, steps: int"),
        ({"steps": [1.5]}, "'steps' takes int; got 1.5 (float)"),
        ({"name": [3]}, "'name' takes str; got 3 (int)"),
        ({"flag": [1]}, "'flag' takes bool; got 1"),
        ({"lr": [None]}, "'lr' takes float; got None"),
        ({"lr": []}, "'lr' needs a list of one or more values"),
        ({"lr": "0.1"}, "'lr' needs a list"),
        ({"out_dir": ["x"]}, "out_dir is set by the sweep"),
    ]
    for grid, message in bad:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            check_grid(grid, DECLARED)


def _stamps(out: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/tiny.ipynb")}


@pytest.mark.slow
def test_a_sweep_keeps_failed_runs_skips_finished_ones_and_retries_on_request(notebook, tmp_path):
    out = tmp_path / "sweep"
    table = sweep(notebook, {"lr": [0.5, -1], "steps": [3]}, out, jobs=2, show_progress=False)
    assert list(table["run_id"]) == ["lr=0.5_steps=3", "lr=-1.0_steps=3"]
    ok, failed = table.iloc[0], table.iloc[1]
    assert ok["status"] == "ok" and ok["score"] == 1.5 and ok["duration_s"] > 0
    assert ok["threads"] == max(1, len(os.sched_getaffinity(0)) // 2)  # cores / jobs
    assert failed["status"] == "failed"
    assert failed["error"] == "ValueError: lr must be > 0; got -1.0"
    assert math.isnan(failed["score"])
    run = out / "lr=0.5_steps=3"
    assert {"tiny.ipynb", "metrics.json", "run.log"} <= {p.name for p in run.iterdir()}
    assert "training a 0.5" in (run / "run.log").read_text()
    log = (out / "lr=-1.0_steps=3" / "run.log").read_text()
    assert "Traceback" in log and "ValueError: lr must be > 0" in log and "\x1b[" not in log
    assert pd.read_csv(out / "results.csv").equals(table)

    before = _stamps(out)
    again = sweep(notebook, {"lr": [0.5, -1], "steps": [3]}, out, show_progress=False)
    assert _stamps(out) == before  # no kernel started: the executed notebooks are untouched
    assert again.equals(table)

    retried = sweep(notebook, {"lr": [0.5, -1], "steps": [3]}, out, retry_failed=True,
                    show_progress=False)  # fmt: skip
    after = _stamps(out)
    assert after["lr=0.5_steps=3"] == before["lr=0.5_steps=3"]
    assert after["lr=-1.0_steps=3"] != before["lr=-1.0_steps=3"]
    assert list(retried["status"]) == ["ok", "failed"]


@pytest.mark.slow
def test_a_killed_kernel_is_a_failed_row(notebook, tmp_path):
    table = sweep(notebook, {"die": [True]}, tmp_path, show_progress=False)
    assert list(table["status"]) == ["failed"]
    assert table["error"][0] == "DeadKernelError: Kernel died"


@pytest.mark.slow
def test_the_command_reads_negative_numbers_and_prints_a_sorted_summary(notebook, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["sweep", str(notebook), "-p", "lr", "-1e-3", "0.25", "2", "-p", "name", "b", "--out",
            str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 1  # one run failed; the others finished
    table = pd.read_csv(out / "results.csv")
    assert list(table["lr"]) == [-0.001, 0.25, 2.0]
    assert list(table["status"]) == ["failed", "ok", "ok"]
    capsys.readouterr()
    assert main(["sweep", "--summary", str(out), "--sort", "score"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[0] == "lr=2.0_name=b" and lines[-1].split()[0] == "lr=-0.001_name=b"
    assert list(summary(out, "score", ascending=True)["score"].dropna()) == [0.5, 4.0]


def test_the_summary_chooses_on_validation_not_test(tmp_path, capsys):
    rows = [
        "run_id,status,error,duration_s,val_accuracy,test_accuracy,diverged",
        "a,ok,,1.5,0.9,0.99,False",
        "b,ok,,1.5,0.95,0.9,False",
        "c,ok,,1.5,,0.1,True",
    ]
    (tmp_path / "results.csv").write_text("\n".join(rows) + "\n")
    assert list(summary(tmp_path)["run_id"]) == ["b", "a", "c"]
    assert main(["sweep", "--summary", str(tmp_path)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["run_id", "val_accuracy", "status", "diverged", "duration_s", "error"]
    assert lines[-1].split() == ["c", "ok", "True", "1.5"]  # diverged: no validation accuracy


def test_the_command_refuses_an_unknown_parameter_before_anything_runs(notebook, tmp_path, capsys):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(notebook), "-p", "lrr", "1", "--out", str(out)])
    assert info.value.code == 2
    assert "unknown parameter 'lrr'; the notebook takes lr: float" in capsys.readouterr().err
    assert not out.exists()
    for argv, message in [
        (["sweep", str(notebook), "-p", "lr", "--out", str(out)], "needs a parameter name and"),
        (["sweep", str(notebook), "-p", "lr", "1", "-p", "lr", "2", "--out", str(out)], "twice"),
        (["sweep", str(notebook), "-p", "lr", "1"], "--out DIR"),
        (["sweep", str(notebook), "--out", str(out), "--jobs", "0"], "jobs must be"),
        (["sweep", str(notebook), "--out", str(out), "-k", "nope"], "kernel must be one of"),
    ]:
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_ctrl_c_stops_the_sweep_and_keeps_the_finished_runs(notebook, tmp_path):
    out = tmp_path / "stopped"
    command = [sys.executable, "-m", "labkit.cli", "sweep", str(notebook), "-p", "sleep", "0",
               "60", "--out", str(out), "--quiet"]  # fmt: skip
    sweeper = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pid_file = out / "sleep=60.0" / "pid"
    deadline = time.monotonic() + 90
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    kernel = int(pid_file.read_text())
    sweeper.send_signal(signal.SIGINT)
    assert sweeper.wait(timeout=30) == 130
    table = pd.read_csv(out / "results.csv")
    assert list(table["run_id"]) == ["sleep=0.0"] and list(table["status"]) == ["ok"]
    deadline = time.monotonic() + 20  # the interrupted run's kernel exits with its worker
    while alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(kernel)


@pytest.mark.slow
def test_the_ray_backend_gives_the_same_rows_as_the_local_one(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster
    grid = {"lr": [0.5, -1], "name": ["r"]}
    local = sweep(notebook, grid, tmp_path / "local", jobs=2, show_progress=False)
    remote = sweep(notebook, grid, tmp_path / "ray", jobs=2, backend="ray", show_progress=False)
    same = ["run_id", "lr", "name", "status", "error", "score", "threads"]
    pd.testing.assert_frame_equal(local[same], remote[same])
    files = {p.name for p in (tmp_path / "ray" / "lr=0.5_name=r").iterdir()}
    assert {"tiny.ipynb", "metrics.json", "run.log"} <= files


def test_the_ray_backend_says_how_to_install_ray(notebook, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"pip install 'labkit\[ray\]'"):
        sweep(notebook, {"lr": [0.5]}, tmp_path / "x", backend="ray", show_progress=False)
    assert not (tmp_path / "x").exists()
