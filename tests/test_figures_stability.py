"""labkit.figures.stability: notebook 01's limits and noise floors are laid out from the numbers
given (the Gaussian rule beside the derived limit, a prediction inside the seeds' range called
consistent, no floor reported where none can be measured)."""

import math

import numpy as np
import pytest

from labkit.figures import stability as figs


def test_learning_rates_figure_marks_the_blown_run_and_the_start():
    e = {"small": np.geomspace(14.0, 1.0, 9), "big": np.geomspace(14.0, 1e30, 9)}
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


def test_trio_lines_give_start_end_and_flag_the_blown_rate():
    e = {"too small": np.array([14.0, 10.0, 0.89]), "too large": np.array([14.0, 1e3, 1.2e65])}
    lines = figs.trio_lines(e, {"too small": 0.002, "too large": 0.1},
                            {"too small": False, "too large": True}).splitlines()  # fmt: skip
    assert lines[0] == "lr 0.002  (too small  ): excess loss 14 → 0.89 after 2 steps"
    assert lines[1] == "lr 0.1    (too large  ): excess loss 14 → 1.2e+65 after 2 steps: BLEW UP"


def _race_report(reason, floors=None):
    batch = {"full-batch GD": 4096, "SGD (B = 1)": 1, "mini-batch (B = 16)": 16}
    limits = {1: 0.027, 16: 0.072, 4096: 0.082}

    def predicted(lr, b):
        return 0.3 / b

    ratio = None if floors is None else floors["SGD (B = 1)"] / floors["mini-batch (B = 16)"]
    return figs.race_floors_report(0.02, batch, limits, predicted, b=16, reason=reason,
                                   floors=floors or {}, ratio=ratio, derived=16.0)  # fmt: skip


def test_race_floors_report_measured_or_why_not():
    floors = {"SGD (B = 1)": np.array([0.2, 0.3]), "mini-batch (B = 16)": np.array([0.01, 0.01])}
    lines = _race_report(None, floors).splitlines()
    assert lines[0].startswith("full-batch GD: lr 0.02 is 0.24× its limit 0.0820")
    assert lines[1].startswith("derived SGD / B = 16 floor ratio") and "16×" in lines[1]
    assert "floor 0.25 (2 seeds 0.2–0.3); derived 0.3" in lines[2]
    assert lines[-1].startswith("SGD's floor / the mini-batch's: mean 25×, 2 seeds 20–30×")
    assert "derived 16× is below the measured range" in lines[-1]
    refused = _race_report("lr 0.02 is at or above SGD's limit").splitlines()
    assert len(refused) == 3 and refused[-1] == "lr 0.02 is at or above SGD's limit"


def test_limit_metrics_hold_the_floor_ratio_only_when_measured():
    limits, runs = {1: 0.027, 16: 0.072}, {1: np.array([0.03, 0.05, 0.04])}
    m = figs.limit_metrics(limits, runs, None, None)
    assert m == {"sgd_limit_b1": 0.027, "sgd_limit_b16": 0.072, "sgd_run_limit_median_b1": 0.04}
    m = figs.limit_metrics(limits, runs, np.array([30.0, 60.0]), 46.0)
    assert (m["floor_ratio_mean"], m["floor_ratio_min"], m["floor_ratio_max"]) == (45, 30, 60)
    assert m["floor_ratio_derived"] == 46.0


def test_threshold_report_and_limit_check_line():
    text = figs.threshold_report(0.08179, 0.081787, [1.96, 2.04]).splitlines()
    assert text[0] == "measured threshold  0.08179"
    assert text[1] == "predicted 2/λ_max   0.08179   (difference +0.004 %)"
    assert text[2] == "standardized features: λ = 1.96 and 2.04, 2/λ_max = 0.98"
    line = figs.limit_check_line(1.0000000001, 0.081787, 0.081787)
    assert line.endswith("2/λ_max exactly") and "eigenvalue at SGD's limit: 1.000000000" in line
    assert figs.limit_check_line(1.0, 0.08, 0.081787).endswith("NOT")


@pytest.mark.parametrize(
    ("lr", "b", "settle", "measured"),
    [(0.02, 16, 100.0, True), (0.03, 16, 100.0, False), (0.02, 1, 100.0, False),
     (0.02, 4096, 100.0, False), (0.02, 16, 1e4, False)],
)  # fmt: skip
def test_race_floors_are_measured_only_where_a_floor_exists(lr, b, settle, measured):
    batch = {"full-batch GD": 4096, "SGD (B = 1)": 1, f"mini-batch (B = {b})": b}
    noisy = ("SGD (B = 1)", f"mini-batch (B = {b})")
    limits = {1: 0.027, b: 0.07, 4096: 0.082}
    asked = []

    def measure(rates, size):  # floors (len(rates), seeds): 0.3 / size for every seed
        asked.append((list(rates), size))
        return np.full((len(rates), 3), 0.3 / size)

    got = figs.race_floors(lr, batch, noisy, limits, lambda lr, size: 0.3 / size, measure,
                           settle=settle, allowed=500)  # fmt: skip
    assert got.report.splitlines()[0].startswith("full-batch GD: lr ")
    if measured:
        assert asked == [([lr], 1), ([lr], b)] and set(got.floors) == set(noisy)
        assert np.allclose(got.ratio, b) and got.derived == pytest.approx(b)
        assert "SGD's floor / the mini-batch's: mean 16×" in got.report
    else:
        assert not asked and got.floors == {} and got.ratio is None and got.derived is None
        reason = figs.no_floor_reason(lr, b, 4096, limits[1], settle, 500)
        assert reason and got.report.endswith(reason)
