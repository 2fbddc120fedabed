"""labkit.figures.optim_batch: notebook 02's batch-size heatmap draws the grid given, a change
between batch sizes counts only beyond the seeds' spread, and the FAQ quotes this run's own
numbers and verdicts."""

import math

import numpy as np
import pytest
from test_figures_optimizers import _run

from labkit.figures import optim_batch as figs
from labkit.figures.optimizers import compare
from labkit.optim import OPTIMIZERS


def test_grid_figure_draws_the_grid_given():
    grid_val = np.array([[0.9, 0.95, np.nan], [0.8, 0.9, 0.3]])
    fig = figs.grid_figure(grid_val, (16, 64), (0.1, 0.4, 1.6), 5)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.900", "0.950", "diverged", "0.800", "0.900", "0.300"]


def test_limits_report_calls_overlapping_seeds_a_tie():
    text = figs.limits_report(
        {16: [0.8, 0.8, 0.95], 64: [1.9, 2.26, 2.26], 256: [2.26, 2.69, 3.2]},
        (0, 1, 2),
        step=4 ** (1 / 8),
    )
    assert "to within 19 %" in text
    lines = text.splitlines()
    assert "2.8x; grew, beyond the seeds' spread" in lines[4]
    assert "1.2x; overlap between seeds: a tie" in lines[5]


def test_diagonals_and_gap_reports():
    grid_val = np.array(
        [[0.92, 0.97, 0.98, np.nan], [0.90, 0.92, 0.97, 0.97], [0.40, 0.80, 0.92, 0.97]]
    )
    text = figs.diagonals_report(grid_val, (16, 64, 256), (0.025, 0.1, 0.4, 1.6), 180)
    lines = text.splitlines()
    assert len(lines) == 2 and "B=256 lr=0.4: 0.920" in lines[0] and lines[0].endswith(": tie")
    assert "B=16 lr=0.1: 0.970" in lines[1] and "B=256 lr=1.6: 0.970" in lines[1]
    best = {16: 0.4, 64: 0.4, 256: 1.6}
    val = {b: [0.97, 0.96, 0.97] for b in best}
    shared = (0.1, [0.99, 0.95, 0.81], [0.97, 0.92, 0.80])
    same = {16: [0.99, 1.0, 1.0], 64: [0.99, 0.99, 0.99], 256: [0.995, 0.99, 0.995]}
    text, change = figs.gap_report(best, same, val, shared, 180)
    assert change.verdict == "tie" and text.endswith("(a tie)")
    # the ± column is the sample std (ddof=1) of the gap over the seeds, not np.std's
    gap16 = np.subtract(same[16], val[16])
    assert f"± {gap16.std(ddof=1):.3f}" in text and f"± {gap16.std():.3f}" not in text
    assert figs.sample_std([1.0, 2.0, np.nan, 3.0]) == pytest.approx(1.0)
    assert "B=256 fits less of the training set than B=16" in text
    grew = {**same, 256: [1.0, 1.0, 1.0]}
    wider = {**val, 256: [0.90, 0.91, 0.90]}
    assert figs.gap_report(best, grew, wider, shared, 180)[1].verdict == "better"


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


@pytest.mark.parametrize(
    "edge",
    [1.0, 5.0, 0.05],  # inside the bracket (0.4, 1.6); above it; below it: the bracket moves
)
def test_largest_rate_bisects_in_log_scale_after_moving_the_bracket(edge):
    tried = []

    def trains(rate):
        tried.append(rate)
        return rate <= edge

    found = figs.largest_rate(trains, 0.4, 1.6)
    assert found <= edge < found * 4 ** (1 / 8)  # three halvings of a 4x bracket: 4^(1/8)
    k = math.log(found / 0.4, 4 ** (1 / 8))  # on the log grid of 0.4's 4^(1/8) steps
    assert k == pytest.approx(round(k))
    assert len(tried) <= 2 + 2 + 3  # the bracket's two ends, a move or two, three halvings


def test_largest_rate_is_nan_when_nothing_trains():
    assert math.isnan(figs.largest_rate(lambda rate: False, 0.4, 1.6))
