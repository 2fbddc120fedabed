"""labkit.figures.optim_faq: notebook 02's FAQ quotes this run's own numbers and verdicts,
the test report and metrics.json mark the runs that diverged, and a number that does not exist
is left out of metrics.json."""

import math

import numpy as np
from test_figures_optimizers import _run

from labkit.figures import optim_faq as figs
from labkit.figures.optimizers import compare
from labkit.optim import OPTIMIZERS


def test_faq_quotes_the_rates_this_run_used_and_its_verdicts():
    acc = dict.fromkeys(OPTIMIZERS, 0.97) | {"adam": 0.5, "sgd": math.nan}
    tie = compare(0.1, 0.2, 0.1, 0.2)
    faq = figs.faq_table(
        val_accuracy=acc,
        rates=dict.fromkeys(OPTIMIZERS, 0.3) | {"adam": 0.03},
        n=180,
        sgd_row=np.array([0.97, 0.9, np.nan]),
        grid_lrs=(0.025, 0.1, 0.4),
        finder_lr=0.01,
        finder_accuracy=math.nan,
        chosen="adam",
        suggestions={"a": tie, "b": compare(0.9, 0.01, 0.5, 0.01)},
        settle=tie,
        largest={16: 0.8, 64: 2.26, 256: 3.2},
        epoch_ms={16: 50.0, 64: 15.0, 256: 3.0},
        gaps={16: (0.03, 0.01), 64: (0.02, 0.01), 256: (0.02, 0.01)},
        gap_change=tie,
    )
    rows = faq.splitlines()[2:]
    assert len(rows) == 4
    assert "Adam(W) (here at 0.03: validation accuracy 0.500)" in rows[0]
    assert "diverged: sgd (lr 0.3)" in rows[0]
    # the rates quoted are the grid's: worst 0.1, best 0.025, 4x apart here (not a fixed "4x")
    assert "from its worst rate that trained, 0.1, to its best, 0.025 (0.25× apart)" in rows[0]
    assert "training at it: diverged" in rows[1] and "better in 1, worse in 0, tied in 1" in rows[1]
    assert "0.8 / 2.3 / 3.2, growing 2.8x and 1.4x" in rows[2]
    assert rows[3].endswith("a tie. |") and "not here" in rows[3]


def test_batch_metrics_name_each_batch_size():
    m = figs.batch_metrics({16: 0.4, 256: 1.6}, {16: 0.8, 256: 3.2}, {16: 0.03, 256: 0.02})
    assert m == {"grid_best_lr_batch_16": 0.4, "grid_best_lr_batch_256": 1.6,
                 "largest_lr_batch_16": 0.8, "largest_lr_batch_256": 3.2,
                 "gap_batch_16": 0.03, "gap_batch_256": 0.02}  # fmt: skip


def test_final_test_report_and_metrics_mark_the_runs_that_diverged():
    runs = {"sgd": _run([0.9]), "adam": _run([0.1], diverged="blew up")}
    test = {"sgd": 0.95, "adam": 0.1}
    text = figs.final_test_report("adam", {"accuracy": 0.1, "f1_macro": 0.02}, test, runs)
    assert text.splitlines() == [
        "adam: test accuracy 0.100, macro F1 0.020 (diverged: the weights it ended with, see "
        "above)",
        "test accuracy per optimizer: sgd 0.950, adam 0.100 (diverged)",
    ]
    m = figs.optimizer_metrics(test, {"sgd": 0.9, "adam": 0.1}, {"sgd": 0.3, "adam": 3.0}, runs)
    assert m["test_accuracy_sgd"] == 0.95 and m["val_accuracy_adam"] == 0.1
    assert m["lr_adam"] == 3.0 and m["diverged_adam"] is True and m["diverged_sgd"] is False


def test_finite_leaves_out_the_numbers_that_do_not_exist():
    m = figs.finite({"a": 0.5, "b": math.nan, "c": "adam", "d": True, "e": 3})
    assert m == {"a": 0.5, "c": "adam", "d": True, "e": 3}
