"""labkit.sweep and `labkit sweep`: a grid through papermill, failures kept, finished runs kept.

The runs execute a tiny notebook (no torch import) so each kernel costs about a second.
"""

from __future__ import annotations

import json
import math
import os
import platform
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
from labkit.records import summary
from labkit.search import (
    IntUniform,
    LogUniform,
    Uniform,
    check_grid,
    parse_distribution,
    parse_value,
    run_id,
    sample_points,
)
from labkit.sweep import sweep
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
    hold = Path(out_dir).parent.parent / f"hold_{name}"  # a test lets this run go on
    while hold.exists():
        time.sleep(0.05)
time.sleep(sleep)
print("training", name, lr)
metrics = {"score": lr * steps, "threads": int(os.environ["OMP_NUM_THREADS"]), "name": name,
           "steps_done": steps}
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
    written = pd.read_csv(out / "results.csv").fillna({"error": ""})
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    # whole numbers stay whole where a failed run left a gap (pandas would write 3.0)
    assert str(table["steps_done"].dtype) == "Int64" and table["steps_done"][0] == 3
    assert ",1.5,a,3\n" in (out / "results.csv").read_text()  # score, name, steps_done
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "ok" and record["parameters"] == {"lr": 0.5, "steps": 3}
    made = record["provenance"]
    assert made["notebook"] == "tiny.ipynb" and len(made["notebook_sha256"]) == 64
    assert made["python"] == platform.python_version() and made["torch"].startswith("2.")

    before = _stamps(out)
    again = sweep(notebook, {"lr": [0.5, -1], "steps": [3]}, out, show_progress=False)
    assert _stamps(out) == before  # no kernel started: the executed notebooks are untouched
    pd.testing.assert_frame_equal(again, table)

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
    assert "metrics.name" not in table  # the metric `name` says what the parameter says
    assert capsys.readouterr().out.splitlines()[-1].startswith("3 runs in this sweep, 1 failed")
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
    pid_file, first = out / "sleep=60.0" / "pid", out / "sleep=0.0" / "run.json"
    deadline = time.monotonic() + 90
    while not (pid_file.exists() and first.exists()) and time.monotonic() < deadline:
        time.sleep(0.2)
    kernel = int(pid_file.read_text())
    sweeper.send_signal(signal.SIGINT)
    assert sweeper.wait(timeout=30) == 130
    table = pd.read_csv(out / "results.csv")
    assert list(table["run_id"]) == ["sleep=0.0"] and list(table["status"]) == ["ok"]
    assert not (out / "sleep=60.0" / "run.json").exists()  # no record: a re-run runs it again
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


def _copy(notebook: Path, folder: Path, extra: str = "") -> Path:
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[-1].source += extra
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / notebook.name)
    return folder / notebook.name


@pytest.mark.slow
def test_finished_runs_are_trusted_only_for_the_same_notebook_code_and_threads(
    notebook, tmp_path, capsys
):
    out = tmp_path / "out"
    sweep(notebook, {"lr": [0.5]}, out, jobs=2, show_progress=False)
    before = _stamps(out)
    assert sweep(notebook, {"lr": [0.5]}, out, show_progress=False)["threads"][0] == before_threads(
        out
    )  # jobs=1 now, yet the folder's thread count is kept: its rows stay comparable
    assert _stamps(out) == before and "threads per run" in capsys.readouterr().out

    edited = _copy(notebook, tmp_path / "edited", "\nprint('edited')")
    sweep(edited, {"lr": [0.5]}, out, show_progress=False)
    assert _stamps(out) != before  # the same name, another SHA-256: it ran again
    assert "the notebook changed since it ran" in capsys.readouterr().out

    threads = before_threads(out) + 1
    again = sweep(edited, {"lr": [0.5]}, out, threads=threads, show_progress=False)
    assert again["threads"][0] == threads and "another thread count" in capsys.readouterr().out

    other = tmp_path / "other" / "other.ipynb"
    other.parent.mkdir()
    other.write_bytes(notebook.read_bytes())
    with pytest.raises(ConfigError, match=r"holds runs of tiny\.ipynb; a sweep of other\.ipynb"):
        sweep(other, {"lr": [0.5]}, out, show_progress=False)

    (out / "lr=0.5" / "run.json").unlink()  # as if the run had been interrupted
    stamp = _stamps(out)
    sweep(edited, {"lr": [0.5]}, out, threads=threads, show_progress=False)
    assert _stamps(out) != stamp


def before_threads(out: Path) -> int:
    return json.loads((out / "lr=0.5" / "run.json").read_text())["threads"]


@pytest.mark.slow
def test_two_sweeps_into_one_folder_at_once_keep_every_row_and_run_each_run_once(
    notebook, tmp_path
):
    out = tmp_path / "shared"
    hold = tmp_path / "hold_a"  # run "a" waits while this file exists
    hold.touch()
    command = [sys.executable, "-m", "labkit.cli", "sweep", str(notebook), "--out", str(out),
               "--quiet", "-p", "name"]  # fmt: skip
    first = subprocess.Popen([*command, "a", "b"], stdout=subprocess.PIPE, text=True)
    _wait_for(out / "name=a" / "pid")
    # the second starts while the first is running "a", which both grids hold; once it runs
    # "c" it has seen "a" taken, and "a" may finish
    second = subprocess.Popen([*command, "a", "c"], stdout=subprocess.PIPE, text=True)
    _wait_for(out / "name=c" / "pid")
    hold.unlink()
    outputs = [first.communicate(timeout=120)[0], second.communicate(timeout=120)[0]]
    assert first.returncode == 0 and second.returncode == 0, outputs
    table = pd.read_csv(out / "results.csv")
    assert sorted(table["run_id"]) == ["name=a", "name=b", "name=c"]
    # "a" ran once: the second sweep waited for the first's run instead of running it again
    assert (out / "name=a" / "run.log").read_text().count("training a") == 1
    assert "1 runs are being run by another sweep" in outputs[1]
    assert "2 runs in this sweep, 0 failed" in outputs[1]


def _wait_for(path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.1)


def test_out_must_be_a_folder(notebook, tmp_path, capsys):
    file = tmp_path / "results.txt"
    file.write_text("not a folder")
    with pytest.raises(SystemExit):
        main(["sweep", str(notebook), "-p", "lr", "1", "--out", str(file)])
    assert "is a file; give a folder" in capsys.readouterr().err


def test_random_search_draws_the_same_distinct_points_from_a_seed():
    space = {"lr": LogUniform(1e-4, 1e-1), "drop": Uniform(0.0, 0.5), "width": IntUniform(8, 64),
             "optimizer": ["sgd", "adam"]}  # fmt: skip
    points = sample_points(space, 200, seed=3)
    assert points == sample_points(space, 200, seed=3) != sample_points(space, 200, seed=4)
    assert len({run_id(p) for p in points}) == 200
    lrs = [p["lr"] for p in points]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    decades = [sum(10.0**k <= lr < 10.0 ** (k + 1) for lr in lrs) for k in (-4, -3, -2)]
    assert min(decades) > 40  # log-uniform: each decade gets about a third (uniform: 1 %)
    assert {p["optimizer"] for p in points} == {"sgd", "adam"}
    assert all(isinstance(p["width"], int) and 8 <= p["width"] <= 64 for p in points)
    with pytest.raises(ConfigError, match="only 2 distinct points; asked for 3"):
        sample_points({"optimizer": ["sgd", "adam"]}, 3)
    for text, message in [("loguniform:0:1", "LOW > 0"), ("uniform:2:1", "LOW < HIGH"),
                          ("int:1.5:3", "whole"), ("uniform:a:b", "two numbers")]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            parse_distribution(text)
    assert parse_distribution("0.01") is None and parse_distribution("adam") is None


@pytest.mark.slow
def test_the_command_runs_a_random_search(notebook, tmp_path, capsys):
    out = tmp_path / "random"
    argv = ["sweep", str(notebook), "-p", "lr", "loguniform:0.01:1", "-p", "steps", "int:1:9",
            "--samples", "3", "--sample-seed", "1", "--out", str(out), "--jobs", "2"]  # fmt: skip
    assert main(argv) == 0
    table = pd.read_csv(out / "results.csv")
    expected = sample_points({"lr": LogUniform(0.01, 1), "steps": IntUniform(1, 9)}, 3, seed=1)
    assert [(r.lr, r.steps) for r in table.itertuples()] == [
        (p["lr"], p["steps"]) for p in expected
    ]
    assert list(table["score"]) == [p["lr"] * p["steps"] for p in expected]
    with pytest.raises(SystemExit):  # a distribution needs --samples
        main(["sweep", str(notebook), "-p", "lr", "uniform:0:1", "--out", str(out)])
    assert "draw from it with samples=N" in capsys.readouterr().err


def test_the_summary_ranks_within_each_seed(tmp_path):
    rows = ["run_id,seed,status,val_accuracy", "a,0,ok,0.90", "b,1,ok,0.99", "c,0,ok,0.95"]
    (tmp_path / "results.csv").write_text("\n".join(rows) + "\n")
    assert list(summary(tmp_path)["run_id"]) == ["c", "a", "b"]


@pytest.mark.slow
def test_the_tpe_sampler_proposes_runs_from_the_results_and_a_rerun_repeats_none(
    notebook, tmp_path
):
    out = tmp_path / "tpe"
    space = {"lr": LogUniform(0.01, 1.0), "steps": IntUniform(1, 9)}
    table = sweep(notebook, space, out, samples=4, sampler="tpe", objective="score", jobs=2,
                  show_progress=False)  # fmt: skip
    assert len(table) == len(set(table["run_id"])) and 2 <= len(table) <= 4
    assert (table["score"] == table["lr"] * table["steps"]).all()
    assert table["lr"].between(0.01, 1.0).all() and table["steps"].between(1, 9).all()
    before = _stamps(out)
    again = sweep(notebook, space, out, samples=4, sampler="tpe", objective="score", jobs=2,
                  show_progress=False)  # fmt: skip
    assert _stamps(out) == before  # the same seed and results: the same proposals, all finished
    assert list(again["run_id"]) == list(table["run_id"])


def test_the_tpe_sampler_says_how_to_install_optuna_and_needs_samples(
    notebook, tmp_path, monkeypatch
):
    with pytest.raises(ConfigError, match="sampler='tpe' proposes samples=N points"):
        sweep(notebook, {"lr": [0.5]}, tmp_path / "x", sampler="tpe", show_progress=False)
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if Optuna were not installed
    with pytest.raises(ImportError, match=r"pip install 'labkit\[optuna\]'"):
        sweep(notebook, {"lr": [0.5]}, tmp_path / "y", samples=1, sampler="tpe",
              show_progress=False)  # fmt: skip
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
