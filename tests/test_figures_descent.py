"""labkit.figures.descent: notebook 01's figures have the panels and lines of the data given,
and its printed sentences follow the numbers (a blown-up run is named, a range that contains a
prediction says so, a tie between seeds is not called a win)."""

import math
import time

import numpy as np
import pytest
import torch
from matplotlib.collections import PolyCollection

from labkit.figures import descent as figs
from labkit.landscapes import bowl


def test_plural_span_and_count():
    assert figs.plural(1) == "1 step" and figs.plural(2) == "2 steps"
    assert figs.plural(1000, "sample") == "1,000 samples"
    assert figs.span([0.1, 0.5, 0.2]) == "0.1–0.5" and figs.span([3.0, 3.0]) == "3"
    assert figs.span([1.0, math.inf]) == "not finite"
    assert figs.count([False] * 10) == "none of 10 seeds"
    assert figs.count([True] * 3) == "all 3 seeds" and figs.count([True, False]) == "1 of 2 seeds"


def excess_runs(ends, steps=8, start=14.0):
    """(steps + 1, runs) excess losses going geometrically from `start` to each end."""
    t = np.linspace(0, 1, steps + 1)[:, None]
    return start * (np.asarray(ends, dtype=float) / start) ** t


def test_race_line_names_a_blow_up_and_counts_the_seeds():
    e = excess_runs([0.01, 50.0, 0.02])
    late = e[-2:].mean(0)
    blown = ~(late <= e[0])
    line = figs.race_line("SGD (B = 1)", 0.05, e, late, blown, 8)
    assert "BLEW UP (1 of 3 seeds above the start)" in line
    assert "(first seed)" in line and "mean over the last 2 steps, 3 seeds: " in line
    assert "8 samples seen per run" in line
    calm = figs.race_line("GD", 0.02, e[:, :1], late[:1], blown[:1], 4096)
    assert "BLEW UP" not in calm and "seeds" not in calm and "4,096 samples seen" in calm


def test_race_line_after_one_step_says_step_and_sample_and_never_a_negative_excess():
    e = np.array([[14.0], [712_664.0]])
    line = figs.race_line("full-batch GD", 10.0, e, e[-1:].mean(0), np.array([True]), 1)
    assert "after 1 step;" in line and "1 sample seen" in line and "BLEW UP" in line
    assert "steps" not in line and "samples" not in line
    overflow = figs.race_line("x", 10.0, np.array([[14.0], [np.nan]]), np.array([np.nan]),
                              np.array([True]), 1)  # fmt: skip
    assert "overflowed" in overflow


@pytest.mark.parametrize(
    ("late", "verdict"),
    [
        ([0.1, 0.2, 0.3], "ahead of GD in all 3 seeds"),
        ([20.0, 30.0], "behind GD in all 2 seeds"),
        ([0.1, 30.0], "ahead in 1 of 2 seeds, behind in the rest: no clear winner"),
    ],
)
def test_per_sample_line_counts_seeds_on_each_side_of_gd(late, verdict):
    gd = np.array([14.0, 5.0, 1.0])
    line = figs.per_sample_line("SGD", np.array(late), gd, 300, 4096)
    assert verdict in line and "could not finish one step" in line and "excess 14" in line
    assert "GD took 2 steps with them (excess 1)" in figs.per_sample_line(
        "mb", np.array(late), gd, 9000, 4096
    )


def test_race_figure_draws_each_method_per_step_and_per_sample_with_a_seed_band():
    e = {"GD": excess_runs([1e-5]), "SGD": excess_runs([0.1, np.inf, 0.2])}
    blown = {"GD": np.array([False]), "SGD": np.array([False, True, False])}
    fig = figs.race_figure(e, {"GD": 4096, "SGD": 1}, blown, front="GD")
    by_step, by_sample = fig.axes
    assert [line.get_label() for line in by_step.lines] == [
        "GD", "SGD (blew up: 1 of 3 seeds); band: 3 seeds",
    ]  # fmt: skip
    assert by_step.lines[0].get_linestyle() == "--"  # the front method, dashed on top
    assert len(by_step.lines[1].get_xdata()) == 9 and len(by_sample.lines[1].get_xdata()) == 8
    assert np.array_equal(by_sample.lines[0].get_xdata(), 4096 * np.arange(1, 9))
    assert sum(isinstance(c, PolyCollection) for c in by_step.collections) == 1  # SGD's band
    assert by_step.get_yscale() == "log" and by_sample.get_xscale() == "log"


def gd_on_bowl(lr, steps, curvatures=(1.0, 20.0)):
    """Plain GD on labkit's bowl from (1, 1): (steps + 1, 2); past 2/20 it diverges."""
    factor = 1 - lr * np.array(curvatures)  # per step, along each axis
    return factor ** np.arange(steps + 1)[:, None]


def test_paths_figure_cuts_a_diverging_path_and_labels_how_far_each_got():
    paths = {"slow": gd_on_bowl(0.01, 40), "diverges": gd_on_bowl(0.15, 40)}
    fig = figs.paths_figure(bowl, paths, 40, xlim=(-2, 2), ylim=(-2, 2), front="slow",
                            minimum=(0, 0), equal=True)  # fmt: skip
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "slow: 40 steps"
    assert labels[1].startswith("diverges: left the view at step ") and labels[1].endswith("of 40")
    assert len(fig.axes[0].lines[1].get_xdata()) < 41  # cut where it left the view
    one = figs.paths_figure(bowl, {"one": paths["slow"][:2]}, 1, xlim=(-2, 2), ylim=(-2, 2))
    assert one.legends[0].get_texts()[0].get_text() == "one: 1 step"


def test_in_view_keeps_a_path_inside_and_cuts_at_the_first_point_outside_or_not_finite():
    inside = np.zeros((5, 2))
    assert figs.in_view(inside, (-1, 1), (-1, 1)) is inside
    path = np.array([[0, 0], [1, 1], [10, 0], [0, 0]], dtype=float)
    assert len(figs.in_view(path, (-1, 1), (-1, 1))) == 3
    assert len(figs.in_view(np.array([[0.0, 0.0], [np.nan, 0.0]]), (-1, 1), (-1, 1))) == 2


def test_noise_table_and_figure_divide_by_the_one_over_root_b_prediction():
    noise = {"w0": {1: 4.0, 4: 2.0, 16: 1.1}, "w_opt": {1: 1.0, 4: 0.5, 16: 0.25}}
    table = figs.noise_table(noise, 4096).splitlines()
    assert len(table) == 2 + 3
    assert table[-1].split()[:5] == ["16", "1.100", "1.10", "0.250", "1.00"]
    fig = figs.noise_figure(noise)
    assert len(fig.axes[0].lines) == 4  # measured and 1/√B, at both points


def test_learning_rates_figure_marks_the_blown_run_and_the_start():
    e = {"small": excess_runs([1.0])[:, 0], "big": excess_runs([1e30])[:, 0]}
    fig = figs.learning_rates_figure(e, {"small": 0.002, "big": 0.1},
                                     {"small": False, "big": True}, 0.0818)  # fmt: skip
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["lr 0.002, small", "lr 0.1, big (blew up)", "where every run starts"]
    assert "2/λ_max = 0.0818" in fig.axes[0].get_title()


def test_limits_table_gives_the_gaussian_rule_and_the_measured_limits():
    n, gd = 4096, 0.08
    derived = {1: 0.027, 16: 0.072, n: gd}
    text = figs.limits_table((1, 16, n), derived, gd, n, {1: np.array([0.03, 0.04, 0.05])})
    lines = text.splitlines()
    assert "measured" in lines[0] and len(lines) == 4
    assert f"{gd / 3:.4f}" in lines[1] and "0.0400 (0.0300–0.0500)" in lines[1]
    assert lines[3].split()[1:] == ["0.0800", "1.000", "0.0800"]  # B = n: f_B = 0, GD itself


def test_floors_summary_compares_with_the_derivation_and_shows_the_spread_at_the_limit():
    fractions = (0.5, 1.0)
    limits = {1: 0.02}

    def predicted(lr, b):
        return math.inf if lr >= limits[b] else 0.1

    measured = {1: np.array([[0.09, 0.11, 0.1], [0.1, 5.0, 0.5]])}
    text = figs.floors_summary(fractions, measured, predicted, limits)
    assert "1.00        –" in text  # measured / derived at ½, none at the limit
    assert "measured floors are 1.00 × the derived ones" in text
    assert "span a factor 1.22" in text and "span a factor 50" in text
    fig = figs.floors_figure(fractions, measured, predicted, limits)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.containers) == 1  # one set of error bars
    assert any("derived" in line.get_label() for line in ax.lines)


def test_run_limits_summary_says_how_single_runs_sit_against_the_derived_limit():
    limits = {1: 0.1, 4: 0.2}
    text = figs.run_limits_summary({1: np.array([0.15, 0.12]), 4: np.array([0.24, 0.18])},
                                   limits)  # fmt: skip
    assert "survives past the derived limit at every B (B = 1 +35%, B = 4 +5%)" in text
    assert "by less as the batch grows" in text and "1 of 4 runs blew up below" in text
    mixed = figs.run_limits_summary({1: np.array([0.09]), 4: np.array([0.3])}, limits)
    assert "survives" not in mixed and "by less" not in mixed and "none" not in mixed


@pytest.mark.parametrize(
    ("prediction", "side"), [(40.0, "inside"), (16.0, "below"), (80.0, "above")]
)
def test_ratio_verdict_calls_a_prediction_inside_the_seeds_range_consistent(prediction, side):
    text = figs.ratio_verdict(np.array([30.0, 45.0, 65.0]), {"p": prediction}, what="r")
    assert text.startswith("r: mean 46.7×, 3 seeds 30–65×")
    assert f"p {prediction:.3g}× is {side} the measured range" in text


def test_timing_summary_finds_where_batching_stops_paying():
    busy = {1: 1e-4, 8: 1.1e-4, 64: 2e-4, 512: 1.6e-3}  # per sample: 8× cheaper, then ~flat
    text = figs.timing_summary(busy)
    assert "a step took 16.0× as long, so a sample cost 32× less" in text
    assert "time per sample at B = 512 / at B = 64: 1.00" in text and "stops paying" in text
    overhead = {1: 1e-4, 8: 1e-4, 64: 1e-4}
    assert "fell at least 2× at every step" in figs.timing_summary(overhead)
    gflops = {b: 1.0 for b in busy}
    assert len(figs.timing_table(busy, gflops, 1e9).splitlines()) == 5
    assert len(figs.timing_figure(busy).axes[0].lines) == 3


def test_figures_accept_torch_surfaces_as_the_notebook_passes_them():
    def surface(p):
        return bowl(torch.as_tensor(p), a=1.0, b=4.0)

    fig = figs.paths_figure(surface, {"p": np.zeros((3, 2))}, 2, xlim=(-1, 1), ylim=(-1, 1))
    assert fig.axes[0].get_xlim() == (-1, 1)


def test_race_metrics_count_blow_ups_and_leave_out_what_overflowed():
    e = {"GD": excess_runs([1e-5]), "SGD": np.column_stack([excess_runs([0.1])[:, 0],
                                                            [14.0] + [np.inf] * 8])}  # fmt: skip
    blown = {"GD": np.array([False]), "SGD": np.array([False, True])}
    m = figs.race_metrics({"GD": "gd", "SGD": "sgd"}, e, blown, {"GD": 4096, "SGD": 1}, 0.25)
    assert m["final_loss_gd"] == pytest.approx(0.25 + 1e-5) and m["samples_seen_gd"] == 4096 * 8
    assert m["diverged_sgd"] and m["blown_up_runs_sgd"] == 1 and not m["diverged_gd"]
    assert "late_excess_loss_mean_sgd" not in m  # inf: metrics.json holds finite numbers only
    assert m["late_excess_loss_sgd"] == pytest.approx(e["SGD"][-2:, 0].mean())
    assert all(np.isfinite(v) for v in m.values())


@pytest.mark.parametrize(
    ("lr", "b", "settle", "reason"),
    [
        (0.02, 1, 10, "the mini-batch run is SGD"),
        (0.02, 4096, 10, "it has no noise floor"),
        (0.05, 16, 10, "at or above SGD's limit"),
        (1e-4, 16, 1e5, "steps to settle"),
        (0.02, 16, 10, None),
    ],
)
def test_no_floor_reason_refuses_where_there_is_no_floor_to_measure(lr, b, settle, reason):
    got = figs.no_floor_reason(lr, b, 4096, 0.027, settle, 500)
    assert got is None if reason is None else reason in got


def test_floor_lines_limit_positions_and_derived_ratios():
    lines = figs.floors_lines({"SGD": np.array([0.2, 0.3])}, {"SGD": 0.27})
    assert "floor 0.25 (2 seeds 0.2–0.3); derived 0.27" in lines
    text = figs.limit_positions(0.05, {"SGD": 1, "GD": 4096}, {1: 0.025, 4096: 0.08})
    assert "SGD: lr 0.05 is 2.00× its limit 0.0250" in text and "0.62×" in text

    def predicted(lr, b):  # a floor that grows faster for b = 1 near its limit 1
        return lr / b / (1 - lr) if b == 1 else lr / b

    line = figs.derived_ratios_line(predicted, 1.0, 16, fractions=(0.01, 0.5))
    assert "0.01, 0.5 × SGD's limit: 16.2×, 32× (the small-lr rule: 16×)" in line


def test_noise_summary_and_path_outcome():
    text = figs.noise_summary({1: 4.0, 4: 2.0}, {1: 0.4, 4: 0.2}, 2.0)
    assert "1.00–1.00" in text and "2.00× the full gradient" in text and "10× smaller" in text
    path = np.array([[1.0, 1.0], [0.5, 0.5], [0.1, 0.0]])
    assert figs.path_outcome(path, np.array([1.0, 0.3, 0.01]), 2, False).startswith("2 steps")
    assert "overflowed at step 3" in figs.path_outcome(path, np.ones(3), 5, False)
    assert "above the start 1" in figs.path_outcome(path, np.array([1.0, 5.0, 9.0]), 2, True)


def test_fastest_times_discards_the_warm_up_and_keeps_each_jobs_fastest():
    calls = {"a": 0, "b": 0}

    def job(name, seconds):
        def run():
            calls[name] += 1
            t = time.perf_counter() + seconds * (10 if calls[name] == 1 else 1)  # slow warm-up
            while time.perf_counter() < t:
                pass

        return run

    fastest, timed = figs.fastest_times({"a": job("a", 1e-4), "b": job("b", 2e-3)}, range(6),
                                        warmup=1)  # fmt: skip
    assert timed == 5 and calls == {"a": 6, "b": 6}
    assert 1e-4 <= fastest["a"] < 1e-3 <= 2e-3 <= fastest["b"] < 1e-2  # warm-up not counted
