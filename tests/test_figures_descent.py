"""labkit.figures.descent: notebook 01's race and gradient-noise figures have the
panels and lines of the data given, and its printed sentences follow the numbers (a blown-up
run is named, a tie between seeds is not called a win)."""

import math

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from labkit.figures import descent as figs


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


def test_noise_table_and_figure_divide_by_the_one_over_root_b_prediction():
    noise = {"w0": {1: 4.0, 4: 2.0, 16: 1.1}, "w_opt": {1: 1.0, 4: 0.5, 16: 0.25}}
    table = figs.noise_table(noise, 4096).splitlines()
    assert len(table) == 2 + 3
    assert table[-1].split()[:5] == ["16", "1.100", "1.10", "0.250", "1.00"]
    fig = figs.noise_figure(noise)
    assert len(fig.axes[0].lines) == 4  # measured and 1/√B, at both points


def test_noise_summary_against_the_one_over_root_b_rule():
    text = figs.noise_summary({1: 4.0, 4: 2.0}, {1: 0.4, 4: 0.2}, 2.0)
    assert "1.00–1.00" in text and "2.00× the full gradient" in text and "10× smaller" in text


def test_noise_metrics_name_each_batch_size_at_both_points():
    m = figs.noise_metrics({1: 4.0, 16: 1.0}, {1: 0.4, 16: 0.1})
    assert m == {"grad_noise_b1": 4.0, "grad_noise_b16": 1.0, "grad_noise_at_opt_b1": 0.4,
                 "grad_noise_at_opt_b16": 0.1}  # fmt: skip


def test_blew_up_is_the_last_quarter_above_the_start_and_an_overflow_blows_up_silently():
    e = excess_runs([0.01, 50.0, 0.02])  # (9, 3): the second run ends far above its start
    assert np.allclose(figs.late_mean(e), e[-2:].mean(0))  # the last quarter: 2 of 8 steps
    assert figs.blew_up(e).tolist() == [False, True, False]
    assert figs.blew_up(np.array([14.0, 15.0])).item()  # one step: the loss after it
    with np.errstate(all="raise"):  # an overflowed run compares False: blown, and no warning
        assert figs.blew_up(np.array([1.0, 1e308, 1e308, np.inf, np.nan])).item()


def test_noise_report_gives_both_lengths_the_table_and_the_summary():
    text = figs.noise_report({1: 4.0, 4: 2.0}, {1: 0.4, 4: 0.2}, 24.3, 3e-15, 4096)
    lines = text.splitlines()
    assert lines[0] == "full gradient: length 24.3 at w0, 3e-15 at w_opt"
    assert "noise at w0" in lines[1] and "noise at w_opt" in lines[1] and len(lines) == 1 + 4 + 1
    assert lines[-1] == figs.noise_summary({1: 4.0, 4: 2.0}, {1: 0.4, 4: 0.2}, 24.3)


def test_race_lines_and_per_sample_lines_leave_out_a_mini_batch_that_is_gd():
    n, steps = 4096, 8
    batch = {"full-batch GD": n, "SGD (B = 1)": 1, f"mini-batch (B = {n})": n}
    excess = {"full-batch GD": excess_runs([0.01]), "SGD (B = 1)": excess_runs([0.1, 0.2]),
              f"mini-batch (B = {n})": excess_runs([0.01, 0.01])}  # fmt: skip
    late = {name: e[-2:].mean(0) for name, e in excess.items()}
    blown = {name: ~(v <= e[0]) for (name, e), v in zip(excess.items(), late.values(), strict=True)}
    lines = figs.race_lines(batch, 0.02, excess, late, blown, steps).splitlines()
    assert [line.split(" lr ")[0].strip() for line in lines] == list(batch)
    assert "32,768 samples seen" in lines[0] and "8 samples seen per run" in lines[1]
    gd = excess["full-batch GD"][:, 0]
    per = figs.per_sample_lines(batch, "full-batch GD", late, gd, steps)
    assert per == figs.per_sample_line("SGD (B = 1)", late["SGD (B = 1)"], gd, steps, n)
