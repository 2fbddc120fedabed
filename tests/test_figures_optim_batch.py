"""labkit.figures.optim_batch: notebook 02's batch-size heatmap draws the grid given, its runs
become the grid's arrays, the bisection reuses the grid's runs and trains nothing twice, and a
change between batch sizes counts only beyond the seeds' spread (the FAQ:
tests/test_figures_optim_faq.py)."""

import math

import numpy as np
import pytest
import torch
from test_figures_optimizers import _history

import labkit
from labkit.figures import optim_batch as figs
from labkit.figures.optimizers import Run


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


def _trained(val_acc, seconds=0.01):
    h = _history([val_acc])
    h.seconds[-1] = seconds
    return Run(torch.nn.Linear(6, 3), h, "")


def test_grid_tables_are_the_runs_arrays_with_nan_where_a_run_diverged(blobs):
    runs = {(16, 0.1): _trained(0.9, 0.5), (16, 1.6): _trained(0.2)._replace(diverged="nan"),
            (64, 0.1): _trained(0.8, 0.25), (64, 1.6): _trained(0.7, 0.125)}  # fmt: skip
    grid = figs.grid_tables(runs, (16, 64), (0.1, 1.6), blobs.train)
    assert np.array_equal(grid.val, [[0.9, np.nan], [0.8, 0.7]], equal_nan=True)
    assert np.isnan(grid.train[0, 1]) and 0 <= grid.train[1, 1] <= 1
    acc = figs.train_accuracy(runs[64, 1.6], blobs.train)
    assert grid.train[1, 1] == acc == labkit.evaluate(runs[64, 1.6].model, blobs.train)["accuracy"]
    assert grid.epoch_seconds == {16: [0.5], 64: [0.25, 0.125]}  # diverged runs left out


def test_broke_means_above_the_best_rate_and_diverged_or_collapsed():
    grid_val = np.array([[0.9, 0.95, 0.3, np.nan], [0.2, 0.9, 0.95, 0.96]])
    lrs = (0.1, 0.4, 1.6, 6.4)
    assert figs.broke(grid_val, lrs, 0, 2) and figs.broke(grid_val, lrs, 0, 3)
    assert not figs.broke(grid_val, lrs, 0, 0)  # below the best rate: not too large
    assert not figs.broke(grid_val, lrs, 1, 0)  # collapsed, but at a rate below the best one
    assert not any(figs.broke(grid_val, lrs, 1, j) for j in range(4))


def test_bisect_limits_reuses_the_grid_and_trains_nothing_twice():
    grid_val = np.array([[0.9, 0.95, np.nan], [0.9, 0.95, 0.97]])
    lrs, edge = (0.1, 0.4, 1.6), {16: 0.5, 64: 3.0}
    tried = []

    def limit(b, s):  # seed 1's edge lies 10 % higher
        return edge[b] * (1.1 if s == 1 else 1.0)

    def trains(b, s, rate):
        tried.append((b, s, rate))
        return rate <= limit(b, s)

    limits = figs.bisect_limits(trains, grid_val, (16, 64), lrs, (0, 1), grid_seed=0)
    assert len(tried) == len(set(tried))  # no (batch size, seed, rate) trained twice
    assert not any(s == 0 and rate in lrs for _, s, rate in tried)  # the grid's runs reused
    for b, found in limits.items():  # three halvings of the 4x bracket: within 4^(1/8)
        assert all(r <= limit(b, s) < r * 4 ** (1 / 8) for s, r in zip((0, 1), found, strict=True))


def test_seed_accuracies_group_the_runs_by_batch_size(blobs):
    runs = {(16, 3): _trained(0.9), (16, 4): _trained(0.8)._replace(diverged="blew up"),
            (64, 3): _trained(0.7)}  # fmt: skip
    train_acc, val_acc = figs.seed_accuracies(runs, blobs.train)
    assert list(val_acc) == [16, 64] and val_acc[16][0] == 0.9 and np.isnan(val_acc[16][1])
    assert np.isnan(train_acc[16][1]) and len(train_acc[64]) == 1
