"""Notebook 04's capacity and learning-curve tables, verdicts and figures: overfitting is
called only when less capacity helps beyond the band, and the figures draw what they are
given."""

import torch

from labkit.figures import capacity as fc
from labkit.figures.fitting import NoiseBand, Run
from labkit.train import History, TrainConfig


def run(train_acc, val_acc, *, diverged=False):
    return Run(torch.nn.Linear(1, 1), History(), TrainConfig(lr=3e-3), 300, train_acc, val_acc,
               diverged)  # fmt: skip


BANDS = {"clean": NoiseBand(360, 0.008), "noisy": NoiseBand(360, 0.018)}


def test_capacity_report_calls_overfitting_only_when_less_capacity_helps():
    widths = (2, 32, 512)
    tie = {2: run(0.30, 0.29), 32: run(1.0, 0.935), 512: run(1.0, 0.931)}  # gap .069
    helped = {2: run(0.35, 0.35), 32: run(0.88, 0.85), 512: run(1.0, 0.767)}
    text = fc.capacity_report({"clean": tie, "noisy": helped}, widths, BANDS)
    clean, small, noisy, _ = text.splitlines()
    assert "gap +0.069" in clean and "a tie" in clean and "overfits" not in clean
    assert "less capacity helps, so it overfits" in noisy
    assert "more capacity helps, it underfits" in small
    # +0.033 is beyond one run's spread (0.022) but inside the band for two runs (0.063): a tie
    helped[32] = run(0.88, 0.80)
    noisy = fc.capacity_report({"noisy": helped}, widths, BANDS).splitlines()[0]
    assert "+0.033 (noise ±0.063: a tie)" in noisy and "does not help" in noisy


def test_learning_curve_report_judges_each_change_against_the_band():
    sizes = (50, 300, 1077)
    curves = {
        512: {50: run(1.0, 0.70), 300: run(1.0, 0.90), 1077: run(1.0, 0.96)},
        2: {50: run(0.60, 0.30), 300: run(0.45, 0.40), 1077: run(0.40, 0.38)},
    }
    wide, tiny, last = fc.learning_curve_report(curves, sizes, BANDS["clean"]).splitlines()
    assert wide.startswith("512 units, 50 → 1077 rows: training accuracy 1.000 to 1.000")
    assert "gap +0.300 → +0.040, narrower" in wide and wide.endswith("higher)")
    assert "(0.600 → 0.400)" in tiny and "gap +0.300 → +0.020, narrower" in tiny
    assert last == ("at 50 rows the gap is +0.300 for 512 units and +0.300 for 2 units, with "
                    "training accuracy 1.000 and 0.600")  # fmt: skip


def test_tables_hold_every_run_and_end_with_the_diverged_ones():
    widths = (2, 512)
    sweep = {
        "clean": {2: run(0.3, 0.29), 512: run(1.0, 0.931)},
        "noisy": {2: run(0.35, 0.35), 512: run(1.0, 0.767, diverged=True)},
    }
    lines = fc.sweep_table(sweep, widths).splitlines()
    assert lines[2] == "clean val    0.290  0.931 "
    assert lines[-2] == "noisy gap    0.000  0.233*"
    assert lines[-1].startswith("* 1 of 4 runs diverged")
    curves = {512: {50: run(1.0, 0.8), 300: run(1.0, 0.9)}}
    assert fc.curve_table(curves, (50, 300)).splitlines()[2] == "     val         0.800  0.900 "
    tiny = run(0.303, 0.289)
    changes = fc.changes_table({"tiny": tiny, "longer": run(0.677, 0.486)}, tiny, BANDS["clean"])
    assert "+0.197 (noise ±0.068: higher)" in changes.splitlines()[2]
    assert "diverged" not in changes  # no run did: no line for it


def test_figures_draw_what_they_are_given():
    widths = (2, 32, 512)
    runs = {w: run(1.0 if w > 2 else 0.3, 0.9 if w > 2 else 0.29) for w in widths}
    fig = fc.capacity_figure({"clean": runs, "noisy": runs}, widths,
                             {"clean": "clean", "noisy": "noisy"}, BANDS)  # fmt: skip
    assert [ax.get_title() for ax in fig.axes] == ["clean", "noisy"]
    train_line = fig.axes[0].lines[0]
    assert list(train_line.get_ydata()) == [0.3, 1.0, 1.0]
    assert len(fig.axes[0].containers) == 1  # the validation points with their error bars

    sizes = (50, 300)
    curves = {512: {n: run(1.0, 0.8) for n in sizes}, 2: {n: run(0.4, 0.25) for n in sizes}}
    acc, gap = fc.learning_curve_figure(curves, sizes, steps=200).axes
    assert len(acc.lines) == 4 and len(gap.lines) == 3  # 2 widths x train/val; 2 gaps + zero
    assert "200 steps" in acc.get_xlabel()
