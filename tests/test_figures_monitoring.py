"""Notebook 12's drifts, fast PSI scorer, figures and computed sentences
(labkit.figures.monitoring)."""

import numpy as np
import pandas as pd
import pytest

from labkit import monitor
from labkit.figures import monitoring as figs
from labkit.validate import ConfigError


def _digits(n: int = 40, seed: int = 0) -> np.ndarray:
    """Integer 'images' 0..16 with a blank border, like the digits."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 8, 8))
    img[:, 2:6, 2:6] = rng.integers(0, 17, (n, 4, 4))
    return img.reshape(n, 64)


def test_the_checks_name_the_parameter_and_its_limits():
    assert figs.check_window(20) == 20 and figs.check_window(360) == 360
    with pytest.raises(ConfigError, match="window must be at most 360, the test rows"):
        figs.check_window(361)
    with pytest.raises(ConfigError, match="window must be an integer >= 20"):
        figs.check_window(19)
    assert figs.check_strength(0) == 0.0 and figs.check_strength(1) == 1.0
    with pytest.raises(ConfigError, match="strength must be <= 1"):
        figs.check_strength(1.01)
    with pytest.raises(ConfigError, match="drift must be one of"):
        figs.check_kind("blur")
    with pytest.raises(ConfigError, match="windows must be at most 5000"):
        figs.check_windows(5001)


@pytest.mark.parametrize("kind", figs.KINDS)
def test_every_drift_keeps_shape_and_range_and_strength_0_changes_nothing(kind):
    raw = _digits()
    assert np.array_equal(figs.drift(raw, kind, 0.0), raw)
    moved = figs.drift(raw, kind, 0.5, seed=1)
    assert moved.shape == raw.shape and moved.min() >= 0 and moved.max() <= 16
    assert not np.allclose(moved, raw)
    assert np.array_equal(moved, figs.drift(raw, kind, 0.5, seed=1))  # reproducible


def test_what_each_drift_does_to_the_pixels():
    raw = _digits()
    assert np.allclose(figs.drift(raw, "brightness", 1.0), raw / 2)  # ink at half intensity
    washed = figs.drift(raw, "contrast", 1.0)
    assert np.allclose(washed[raw == 0], 4) and np.allclose(washed[raw == 16], 12)  # toward 8
    noisy = [figs.drift(raw, "noise", 1.0, seed=s) for s in (0, 1)]
    assert not np.array_equal(*noisy)  # the seed draws the noise
    dot = np.zeros((1, 64))
    dot[0, 3 * 8 + 2] = 16  # one pixel at row 3, column 2
    assert figs.drift(dot, "shift", 0.5)[0, 3 * 8 + 3] == pytest.approx(16)  # one column right
    bar = np.zeros((1, 8, 8))
    bar[0, 3:5, 1:7] = 16  # a horizontal bar through the centre
    turned = figs.drift(bar.reshape(1, 64), "rotation", 1.0).reshape(8, 8)
    ys, xs = np.nonzero(turned > 4)
    angle = np.degrees(np.arctan(np.polyfit(xs - 3.5, ys - 3.5, 1, w=turned[ys, xs])[0]))
    assert 15 < abs(angle) < 45  # turned by about 30 degrees
    with pytest.raises(ConfigError, match=r"raw must be an array \(N, 64\)"):
        figs.drift(np.zeros((3, 10)), "noise", 0.5)


def test_the_scorer_gives_labkits_psi_for_every_feature():
    ref, live = _digits(300, seed=1), figs.drift(_digits(120, seed=2), "brightness", 0.3)
    scorer = figs.PsiScorer(ref)
    expected = [monitor.psi(ref[:, j], live[:, j]) for j in range(64)]
    assert np.allclose(scorer.scores(live), expected, rtol=0, atol=1e-12)
    assert np.allclose(scorer.scores(ref), 0)
    with pytest.raises(ConfigError, match=r"live must be \(rows, 64\)"):
        scorer.scores(live[:, :10])


def test_bootstrap_is_seeded_and_small_windows_false_alarm_more():
    rng = np.random.default_rng(0)
    ref, pool = rng.normal(size=(1000, 8)), rng.normal(size=(600, 8))
    scorer = figs.PsiScorer(ref)
    small = figs.bootstrap_max_psi(scorer, pool, 30, 60, seed=1)
    assert np.array_equal(small, figs.bootstrap_max_psi(scorer, pool, 30, 60, seed=1))
    large = figs.bootstrap_max_psi(scorer, pool, 400, 60, seed=1)
    assert np.median(large) < np.median(small)
    rates = figs.alarm_rate(small, [0.01, 0.1, 0.5, 100])
    assert (np.diff(rates) <= 0).all() and rates[0] == 1 and rates[-1] == 0


def test_first_alert_is_where_the_alert_starts_for_good():
    s = [0, 0.1, 0.2, 0.3]
    assert figs.first_alert(s, [0.1, 0.3, 0.1, 0.4], 0.25) == 0.3  # a blip does not count
    assert figs.first_alert(s, [0.3, 0.3, 0.3, 0.4], 0.25) == 0
    assert figs.first_alert(s, [0.1, 0.3, 0.3, 0.1], 0.25) is None


def test_the_sweep_sentence_calls_changes_inside_the_noise_ties():
    s = [0, 0.5, 1.0]
    tie = figs.sweep_sentence("brightness", s, [0.95, 0.95, 0.94], [0.05, 1.0, 2.0], 0.25, 300)
    assert "stays at 0.950 within noise" in tie and "fires from strength 0.5 on" in tie
    assert "not yet changed beyond its noise" in tie
    drop = figs.sweep_sentence("rotation", s, [0.95, 0.6, 0.2], [0.05, 1.0, 2.0], 0.25, 300)
    assert "falls from 0.950 to 0.200" in drop and "had already lost 0.350" in drop
    quiet = figs.sweep_sentence("noise", s, [0.95, 0.9, 0.8], [0.05, 0.1, 0.2], 0.25, 300)
    assert "does not fire at strength 1" in quiet
    always = figs.sweep_sentence("noise", s, [0.95, 0.9, 0.8], [0.5, 0.6, 0.7], 0.25, 20)
    assert "fires at every strength, clean included" in always


def test_alert_kinds_and_the_summaries_read_the_report():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(500, 4))
    pred = rng.integers(0, 3, 500)
    calm = monitor.check(ref, rng.normal(size=(400, 4)), reference_pred=pred,
                         live_pred=rng.integers(0, 3, 400), classes=3)  # fmt: skip
    loud = monitor.check(ref, rng.normal(size=(400, 4)) + 2, reference_pred=pred,
                         live_pred=np.zeros(400, int), classes=3)  # fmt: skip
    assert figs.alert_kinds(calm) == {"PSI": False, "KS": False, "predictions": False}
    assert figs.alert_kinds(loud) == {"PSI": True, "KS": True, "predictions": True}
    table = pd.DataFrame({
        "dim": {"accuracy": 0.94, "PSI": True, "KS": True, "predictions": False},
        "noise": {"accuracy": 0.40, "PSI": True, "KS": True, "predictions": True},
        "turn": {"accuracy": 0.50, "PSI": True, "KS": False, "predictions": False},
    }).T  # fmt: skip
    text = figs.kinds_summary(table, 0.95, 300, 0.5)
    assert "dim at 0.5: PSI, KS; accuracy 0.940 (did not fall beyond noise" in text
    assert "fired on 1 of the 2 kinds whose accuracy fell beyond noise (silent on: turn)" in text
    calm_kinds = figs.kinds_summary(table.assign(accuracy=0.95), 0.95, 300, 0.5)
    assert "no kind's accuracy fell beyond noise at this strength; it also fired on 1" in calm_kinds
    alerts = {"dim": [{"PSI": False, "KS": True}, {"PSI": True, "KS": True}]}
    assert figs.ks_without_psi([0.1, 0.2], alerts) == (
        "KS alerted without PSI at: dim at 0.1; "
        "PSI alerted without KS at: no strength of this sweep"
    )


def test_rates_with_no_hits_give_an_upper_bound_not_a_zero_error():
    assert figs.rate_text(0, 200) == "below about 0.015 (95 % upper bound, 0 of 200)"
    assert figs.rate_text(26, 200) == "0.130 ± 0.024"
    assert figs.rate_text(20, 20) == "above about 0.850 (95 % lower bound, 20 of 20)"
    assert "3 of 100 clean windows of 300 rows" in figs.false_alarm_sentence(0.03, 100, 300, 0.25)


def test_the_figures_have_their_panels_and_lines():
    raw = _digits(8)
    fig = figs.examples_figure(raw, 0.5)
    assert len(fig.axes) == (len(figs.KINDS) + 1) * 6
    s = [0, 0.5, 1]
    acc = {k: [0.95, 0.8, 0.5] for k in figs.KINDS}
    psi = {k: [0.05, 1.0, 3.0] for k in figs.KINDS}
    acc_ax, psi_ax = figs.sweep_figure(s, acc, psi, 0.25, 300).axes
    assert len(acc_ax.lines) == len(figs.KINDS) and acc_ax.get_ylim()[0] == 0
    assert len(psi_ax.lines) == len(figs.KINDS) + 1 and psi_ax.get_yscale() == "log"
    grid = np.geomspace(0.01, 10, 20)
    (ax,) = figs.false_alarm_figure(grid, {"a": grid * 0, "b": grid * 0}, 0.25, 200).axes
    assert len(ax.lines) == 3 and ax.get_xscale() == "log"


def test_the_controls_start_at_validated_values_and_read_them_back():
    ui = figs.MonitorControls(drift="noise", strength=0.35, window=120)
    assert ui.values() == {"drift": "noise", "strength": 0.35, "window": 120}
    assert ui.drift.options == figs.KINDS and ui.window.max == figs.MAX_WINDOW
    ui.drift.value, ui.strength.value, ui.window.value = "shift", 1.0, 20  # the edges
    assert ui.values() == {"drift": "shift", "strength": 1.0, "window": 20}
    with pytest.raises(ConfigError, match="drift must be one of"):
        figs.MonitorControls(drift="blur")
    with pytest.raises(ConfigError, match="strength must be <= 1"):
        figs.MonitorControls(strength=2)
    with pytest.raises(ConfigError, match="window must be at most 360"):
        figs.MonitorControls(window=400)


def test_the_live_window_figure_and_sentence_say_what_fired():
    rng = np.random.default_rng(0)
    ref, live = _digits(300, seed=1), figs.drift(_digits(200, seed=2), "rotation", 1.0)
    pred = rng.integers(0, 10, 300)
    report = monitor.check(ref, live, reference_pred=pred, live_pred=np.zeros(200, int),
                           classes=10)  # fmt: skip
    psi = np.array([f.psi for f in report.features])
    fig = figs.live_figure(ref[0], live[0], psi, 0.25, {"clean": 0.95, "rotation 1": 0.4}, 200)
    digit, drifted, grid, bars, _colorbar = fig.axes
    assert np.array_equal(digit.images[0].get_array(), ref[0].reshape(8, 8))
    assert np.array_equal(drifted.images[0].get_array(), live[0].reshape(8, 8))
    assert len(bars.patches) == 2 and bars.get_ylim()[0] == 0
    assert len(grid.collections[0].get_offsets()) == report.drifted_features  # the × marks
    text = figs.live_sentence("rotation", 1.0, 200, 0.95, 0.4, report)
    assert text.startswith("rotation at strength 1, a window of 200 rows: alerts fired: PSI (")
    assert "predictions (class-mix PSI" in text
    assert "accuracy fell from 0.950 to 0.400, beyond its noise (±0." in text
    calm = monitor.check(ref, _digits(200, seed=3), reference_pred=pred,
                         live_pred=rng.integers(0, 10, 200), classes=10)  # fmt: skip
    quiet = figs.live_sentence("noise", 0.0, 200, 0.95, 0.94, calm)
    assert "no alert fired (0 pixels > 0.25" in quiet, quiet
    assert "accuracy 0.950 → 0.940, no change beyond its noise (±0.0" in quiet
    perfect = figs.live_sentence("shift", 0.0, 20, 1.0, 1.0, calm)
    assert perfect.endswith("; accuracy 1.000 on both windows"), perfect
