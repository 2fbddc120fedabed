"""labkit.figures.sweep_figures: notebook 05's figures draw the table they are given."""

import math

import numpy as np
import pandas as pd

from labkit.figures.sweep_figures import (
    lr_curves,
    search_figure,
    seeds_figure,
    sweep_heatmaps,
    value_grid,
)

ROWS = pd.DataFrame(
    [
        {"optimizer": "sgd", "batch_size": 16, "lr": 0.01, "status": "ok", "diverged": False,
         "val_accuracy": 0.5, "test_accuracy": 0.55},
        {"optimizer": "sgd", "batch_size": 16, "lr": 0.1, "status": "ok", "diverged": True,
         "val_accuracy": 0.1, "test_accuracy": 0.1},
        {"optimizer": "adam", "batch_size": 16, "lr": 0.01, "status": "failed", "diverged": None,
         "val_accuracy": math.nan, "test_accuracy": math.nan},
        {"optimizer": "adam", "batch_size": 16, "lr": 0.1, "status": "ok", "diverged": False,
         "val_accuracy": 0.9, "test_accuracy": 0.92},
    ]
)  # fmt: skip


def test_value_grid_places_each_run_and_leaves_failed_ones_empty():
    grid = value_grid(ROWS, "adam", "val_accuracy", [16, 64], [0.01, 0.1])
    assert grid.shape == (2, 2) and grid[0, 1] == 0.9
    assert np.isnan(grid[0, 0]) and np.isnan(grid[1]).all()  # failed; batch 64 never ran


def test_the_heatmaps_label_diverged_and_failed_cells_and_frame_the_chosen_one():
    chosen = ROWS.iloc[3]
    fig = sweep_heatmaps(ROWS, ["val_accuracy"], ["sgd", "adam"], [16], [0.01, 0.1], chosen)
    sgd, adam = fig.axes[:2]
    assert [t.get_text() for t in sgd.texts] == ["0.50", "diverged"]
    assert [t.get_text() for t in adam.texts] == ["failed", "0.90"]
    assert len(adam.patches) == 1 and not sgd.patches  # the red frame, on adam's panel only
    assert adam.patches[0].get_xy() == (0.5, -0.5)


def test_the_curves_show_validation_and_test_per_batch_size():
    fig = lr_curves(ROWS, ["sgd", "adam"], [16], [0.01, 0.1])
    val, test = (line for line in fig.axes[1].get_lines() if line.get_label()[0] != "_")
    assert np.isnan(val.get_ydata()[0]) and val.get_ydata()[1] == 0.9  # adam: failed, then 0.9
    assert test.get_ydata()[1] == 0.92
    assert (val.get_linestyle(), test.get_linestyle()) == ("-", "--")
    assert fig.axes[0].get_xscale() == "log"


def test_the_seed_figure_draws_the_band_around_the_chosen_run():
    fig = seeds_figure([0.8, 0.9], [0.94, 0.96, 0.95], chosen=0.95, band=0.03, seed=0)
    left, right = fig.axes[:2]
    band = left.patches[0]
    assert np.isclose(band.get_x(), 0.92) and np.isclose(band.get_width(), 0.06)
    assert right.get_xlim() == (0.95 - 0.06, 1.005)


def test_the_search_figure_counts_the_learning_rates_each_search_tried():
    random = ROWS.assign(lr=[0.011, 0.12, 0.013, 0.05])
    fig = search_figure({"grid": ROWS, "random": random}, ["sgd", "adam"])
    labels = fig.axes[1].get_legend_handles_labels()[1]
    assert labels == ["grid: 1 learning rates", "random: 1 learning rates"]
    assert fig.axes[0].get_legend_handles_labels()[1] == [
        "grid: 2 learning rates",
        "random: 2 learning rates",
    ]
