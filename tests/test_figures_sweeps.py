"""Notebook 05's reading of a sweep: list parameters refused by name, the choice on
validation, a best rate at the grid's edge warned about only beyond the noise, the repeat
compared to the last digit, and grid against random search judged by the one rule."""

import math

import pandas as pd
import pytest

from labkit.figures import sweeps as fs
from labkit.validate import ConfigError, check_float, check_int


def table(rows):
    keys = ("optimizer", "batch_size", "lr", "status", "diverged", "val_accuracy",
            "test_accuracy")  # fmt: skip
    frame = pd.DataFrame([dict(zip(keys, r, strict=True)) for r in rows])
    return frame.assign(run_id=[f"run{i}" for i in range(len(frame))], threads=1.0,
                        duration_s=2.0)  # fmt: skip


GRID = table([
    ("sgd", 16, 0.01, "ok", False, 0.50, 0.55),
    ("sgd", 16, 0.1, "ok", False, 0.80, 0.78),
    ("sgd", 16, 1.0, "ok", False, 0.95, 0.96),  # the largest rate, far ahead: at the edge
    ("adam", 16, 0.01, "ok", False, 0.93, 0.97),
    ("adam", 16, 0.1, "ok", False, 0.94, 0.93),
    ("adam", 16, 1.0, "ok", True, 0.10, 0.10),
])  # fmt: skip


def test_list_parameters_take_lists_strings_and_one_value():
    assert fs.list_parameter("lrs", "0.1, 1", check_float) == [0.1, 1.0]
    assert fs.list_parameter("lrs", "[0.1,'1']", check_float) == [0.1, 1.0]
    assert fs.list_parameter("batch_sizes", 32, check_int) == [32]
    with pytest.raises(ConfigError, match="lrs needs at least one value"):
        fs.list_parameter("lrs", " ", check_float)
    with pytest.raises(ConfigError, match=r"lrs lists a value twice: \[0.1, 0.1\]"):
        fs.list_parameter("lrs", [0.1, 0.1], check_float)
    with pytest.raises(ConfigError, match="lrs must be a finite number; got 'x'"):
        fs.list_parameter("lrs", "0.1,x", check_float)


def test_course_notebook_finds_notebook_03_or_says_where_it_looked():
    assert fs.course_notebook("03_training_pipeline.ipynb").is_file()
    with pytest.raises(FileNotFoundError, match=r"no notebook 99 at .*99_none\.ipynb"):
        fs.course_notebook("99_none.ipynb")


def test_the_command_and_the_sweeps_report():
    grid = {"optimizer": ["sgd", "adam"], "lr": [0.01, 0.1]}
    assert fs.sweep_command("nb.ipynb", grid, "runs/x", 2) == (
        "labkit sweep nb.ipynb -p optimizer sgd adam -p lr 0.01 0.1 --out runs/x --jobs 2"
    )
    failed = pd.DataFrame({"status": ["failed"], "run_id": ["a"], "threads": [2.0],
                           "duration_s": [1.0]})  # fmt: skip
    assert set(fs.with_scores(failed).columns) >= set(fs.SCORES) and "diverged" not in failed
    assert fs.threads_used(GRID) == 1 and fs.threads_used(failed.assign(threads=None)) == (
        "not recorded"
    )
    made_now = [True] * 4 + [False] * 2
    text = fs.sweep_report(GRID, made_now, 2, 1, 9.4)
    assert text.splitlines() == [
        "6 runs: 6 ok, 0 failed; 2 at a time, each kernel with OMP_NUM_THREADS=1",
        "ran now: 4; found finished by an earlier execution into this out_dir: 2",
        "this call took 9 s; the 4 runs made now took 8 s together"]  # fmt: skip
    assert fs.sweep_report(failed, [False], 1, 2, 0.2).endswith("this call took 0 s")


def test_the_choice_is_made_on_validation_and_the_test_set_is_not_chosen_by():
    ok = GRID[GRID.status == "ok"]
    candidates = ok[~ok.diverged.eq(True)]
    best = candidates.sort_values("val_accuracy", ascending=False, kind="stable").iloc[0]
    chosen, reported, other = fs.choice_report(ok, candidates, best).splitlines()
    assert chosen == "chosen on validation: sgd, lr=1, batch size 16: val accuracy 0.950"
    assert reported == "its test accuracy, the number to report: 0.960"
    assert other.startswith("the highest test accuracy, 0.970, belongs to adam, lr=0.01")
    assert fs.choice_report(ok, candidates, None).startswith("no run finished")
    tie = candidates.assign(val_accuracy=0.9)
    assert "(tied with 4 other settings; the first in grid order)" in fs.choice_report(
        ok, tie, tie.iloc[0]
    )


def test_a_best_rate_at_the_edge_is_a_warning_only_beyond_the_noise():
    ok = GRID[GRID.status == "ok"]
    candidates = ok[~ok.diverged.eq(True)]
    at_edge, text = fs.edge_report(ok, candidates, ["sgd", "adam"], [16], [0.01, 0.1, 1.0], 360)
    assert at_edge == [("sgd", 16)]
    lines = text.splitlines()
    assert lines[0].startswith("sgd       best at lr=1, batch size 16: val 0.950")
    assert lines[1].startswith("  warning: at batch size 16, lr=1, the largest rate in the grid")
    assert "(1 diverged)" in lines[2] and len(lines) == 3  # adam's best, 0.1, lies inside
    # +0.020 against 2·√2 × the sampling error of 0.95 on 360 images (0.032): a tie
    close = candidates.assign(val_accuracy=[0.50, 0.93, 0.95, 0.93, 0.94])
    at_edge, text = fs.edge_report(ok, close, ["sgd"], [16], [0.01, 0.1, 1.0], 360)
    assert not at_edge and "ties with lr=0.1 inside it (+0.020, noise ±0.032)" in text


def test_diverged_runs_are_listed():
    assert fs.diverged_report(GRID) == (
        "diverged in the grid: adam, lr=1, batch size 16 (status 'ok', test accuracy 0.100)"
    )
    assert fs.diverged_report(GRID[~GRID.diverged]) == ""


def test_the_repeat_is_compared_to_the_last_digit_timings_aside():
    first = {"val_accuracy": 0.9, "test_accuracy": 0.91, "train_seconds": 0.07,
             "train_wall_seconds": 0.1, "seed": 0}  # fmt: skip
    second = first | {"train_seconds": 0.08}
    text = fs.repeat_report(first, second, [], made_now=True)
    assert "val_accuracy       0.9" in text and "train_seconds" in text and "differs" in text
    assert text.splitlines()[-1] == "3 of 3 metrics identical, to the last digit"
    text = fs.repeat_report(first, second | {"seed": 1}, ["seed"], made_now=False)
    assert "2 of 3 metrics identical, to the last digit; differ: ['seed']" in text
    assert text.splitlines()[-1].startswith("(the first run comes from an earlier execution")


def test_grid_against_random_search_by_the_one_rule():
    random = GRID.assign(lr=[0.02, 0.2, 0.5, 0.03, 0.3, 0.9], val_accuracy=0.99)
    found, text = fs.search_report({"grid": GRID, "random": random}, 0.03)
    assert found == {"grid": 0.95, "random": 0.99}  # the diverged run does not count
    grid, _, verdict = text.splitlines()
    assert grid == "grid   6 runs, 3 distinct learning rates; best validation accuracy 0.950"
    assert verdict.startswith("random − grid: +0.040 against a noise band of ±0.030: random")
    _, text = fs.search_report({"grid": GRID, "random": random}, 0.05)  # inside the band
    assert "a tie: inside the noise band" in text
    _, text = fs.search_report({"grid": GRID}, 0.03)
    assert text.endswith("it needs both bests and section 5's noise band")


def test_the_metrics_of_the_best_run_and_only_finite_numbers():
    metrics = fs.best_metrics(GRID.iloc[2])
    assert metrics == {"best_lr": 1.0, "best_batch_size": 16, "best_optimizer": "sgd",
                       "best_val_accuracy": 0.95, "best_test_accuracy": 0.96}  # fmt: skip
    assert fs.finite({"a": math.nan, "b": 1.0, "c": "x"}) == {"b": 1.0, "c": "x"}
