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


def test_fresh_splits_are_seeded_disjoint_and_small_windows_false_alarm_more():
    splits = figs.fresh_splits(100, 60, 30, 5, seed=1)
    assert all(len(np.union1d(r, w)) == 90 and len(r) == 60 and len(w) == 30 for r, w in splits)
    again = figs.fresh_splits(100, 60, 30, 5, seed=1)
    assert all(
        np.array_equal(np.r_[r, w], np.r_[r2, w2])
        for (r, w), (r2, w2) in zip(splits, again, strict=True)
    )
    with pytest.raises(ConfigError, match="reference_rows \\+ window must be at most the 100"):
        figs.fresh_splits(100, 80, 30, 5)
    rows = np.random.default_rng(0).normal(size=(1600, 8))
    scores = {n: [] for n in (30, 400)}
    for r, w in figs.fresh_splits(len(rows), 1000, 400, 40, seed=2):
        scorer = figs.PsiScorer(rows[r])
        for n in scores:
            scores[n].append(scorer.scores(rows[w[:n]]).max())
    assert np.median(scores[400]) < np.median(scores[30])
    rates = figs.alarm_rate(scores[30], [0.01, 0.1, 0.5, 100])
    assert (np.diff(rates) <= 0).all() and rates[0] == 1 and rates[-1] == 0


def test_fresh_splits_measure_the_traffics_false_alarm_rate_where_one_resampled_pool_does_not():
    # Few-valued 'pixels' as in the digits. The true rate: reference and window both fresh
    # from the population. Resampling one fixed pool with replacement (the old way) shares
    # the pool's chance difference and repeats rows: a rate several times too high.
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(6), size=16)

    def population(n):
        return np.stack([rng.choice(6, n, p=q) for q in probs], axis=1).astype(float)

    def alarm(scorer, live):
        return scorer.scores(live).max() > 0.25

    n_ref, n = 600, 60
    true = np.mean([alarm(figs.PsiScorer(population(n_ref)), population(n)) for _ in range(300)])
    rows = population(n_ref + 200)
    fresh = np.mean([
        alarm(figs.PsiScorer(rows[r]), rows[w])
        for r, w in figs.fresh_splits(len(rows), n_ref, n, 300, seed=1)
    ])  # fmt: skip
    scorer, pool = figs.PsiScorer(rows[:n_ref]), rows[n_ref:]
    resampled = np.mean([alarm(scorer, pool[rng.integers(0, len(pool), n)]) for _ in range(300)])
    assert abs(fresh - true) < 3 * figs.sampling_error(true, 300) + 0.02
    assert resampled > 1.5 * true + 0.02


def test_the_noise_floor_counts_the_bins_the_reference_fills_and_says_when_it_fails():
    rng = np.random.default_rng(3)
    ref = np.stack([rng.choice(4, 1000, p=[0.4, 0.3, 0.2, 0.1]) for _ in range(8)], 1) * 1.0
    scorer = figs.PsiScorer(ref)
    assert (scorer.filled_bins() == [len(e) for e in scorer.edges]).all()  # 4 values: 4 bins
    assert (scorer.filled_bins() == 4).all()
    ratios = [
        figs.noise_floor(scorer, np.stack([rng.choice(4, 300, p=[0.4, 0.3, 0.2, 0.1])
                                           for _ in range(8)], 1) * 1.0)["ratio"]
        for _ in range(40)
    ]  # fmt: skip
    assert np.mean(ratios) == pytest.approx(1, abs=0.2)  # (k − 1)·(…) with k = 4, not 5
    floor = figs.noise_floor(scorer, ref[:300])
    assert floor["expected"] == pytest.approx(3 * (1 / 1000 + 1 / 300))
    assert "approximation fails" not in figs.noise_floor_sentence({**floor, "ratio": 1.2})
    tiny = figs.noise_floor(scorer, ref[:6])
    text = figs.noise_floor_sentence({**tiny, "ratio": 2.4})
    assert "The approximation fails at 6 live rows: 32 of the 32 bins" in text, text


def test_mean_shift_grows_with_the_strength_where_the_largest_psi_stops():
    raw = _digits(300, seed=4)
    ref = _digits(600, seed=5)
    shifts = [figs.mean_shift(ref, figs.drift(raw, "contrast", s)) for s in (0.05, 0.5, 1.0)]
    assert shifts[0] < shifts[1] < shifts[2]
    scorer = figs.PsiScorer(ref)
    psi = [scorer.scores(figs.drift(raw, "contrast", s)).max() for s in (0.05, 1.0)]
    assert psi[0] == psi[1] == pytest.approx(figs.PSI_CEILING)  # a blank pixel left its bin
    assert round(figs.PSI_CEILING, 4) == 18.4188 == round(2 * (1 - 1e-4) * np.log(1e4), 4)
    sweep = {"contrast": [0.1, *psi], "noise": [0.1, 3, 3]}
    text = figs.ceiling_sentence([0, 0.05, 1.0], sweep)
    assert "reached its ceiling 2·(1 − EPS)·ln(1/EPS) = 18.42" in text
    assert "for contrast (from strength 0.05)" in text
    assert "did not grow from the weakest drift to the strongest for noise (3 at 0.05" in text
    grows = figs.ceiling_sentence([0, 0.5, 1.0], {"noise": [0.1, 1, 3]})
    assert grows.startswith("the largest PSI grew")


def test_first_alert_is_where_the_alert_starts_for_good():
    s = [0, 0.1, 0.2, 0.3]
    assert figs.first_alert(s, [False, True, False, True]) == 0.3  # a blip does not count
    assert figs.first_alert(s, [True] * 4) == 0
    assert figs.first_alert(s, [False, True, True, False]) is None


def _rows(n: int, wrong: int, flipped: int = 0, back: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-row correctness of n rows, `wrong` of them wrong, and the same rows after a drift
    that turned `flipped` right rows wrong and `back` wrong rows right."""
    before = np.arange(n) >= wrong
    after = before.copy()
    after[wrong : wrong + flipped] = False
    after[:back] = True
    return before, after


def test_a_paired_change_is_mcnemars_test_on_the_rows_that_changed():
    # The reviewer's case: 300 rows at 0.953, 10 turned wrong: a drop of 0.033. Independent
    # errors (2·√(se₁² + se₂²) ≈ 0.040) would call it a tie; the rows are the same, and 10 of
    # 10 changed answers going one way is not a coin (p = 2/1024).
    before, after = _rows(300, 14, flipped=10)
    independent = 2 * np.hypot(figs.sampling_error(before.mean(), 300),
                               figs.sampling_error(after.mean(), 300))  # fmt: skip
    change = figs.paired_change(before, after)
    assert before.mean() - after.mean() < independent
    assert change.fell and (change.worse, change.better) == (10, 0)
    assert change.pvalue == pytest.approx(2 / 1024)
    assert str(change) == "-0.033: 10 rows turned wrong, 0 right, McNemar p 0.002"
    few = figs.paired_change(*_rows(300, 14, flipped=4))  # 4 of 4: p = 0.125, a tie
    assert not few.fell and few.pvalue == pytest.approx(0.125)
    mixed = figs.paired_change(*_rows(300, 14, flipped=10, back=8))
    assert not mixed.fell and not mixed.rose
    assert figs.paired_change(before, before).pvalue == 1.0
    with pytest.raises(ConfigError, match="same rows"):
        figs.paired_change(before, after[:10])


def test_the_sweep_sentence_calls_changes_inside_the_noise_ties():
    s = [0, 0.5, 1.0]
    base = _rows(300, 15)[0]
    tie = figs.sweep_sentence("brightness", s, [base, _rows(300, 15, 2)[1], _rows(300, 15, 3)[1]],
                              [0.05, 1.0, 2.0], 0.25)  # fmt: skip
    assert "stays at 0.950 within noise (now 0.940; -0.010: 3 rows turned wrong" in tie
    assert "fires from strength 0.5 on" in tie and "had not yet changed beyond noise (" in tie
    drop = figs.sweep_sentence("rotation", s, [base, _rows(300, 15, 10)[1], _rows(300, 15, 225)[1]],
                               [0.05, 1.0, 2.0], 0.25)  # fmt: skip
    assert "falls from 0.950 to 0.200" in drop and "had already lost 0.033 (-0.033: 10 rows" in drop
    quiet = figs.sweep_sentence("noise", s, [base] * 3, [0.05, 0.1, 0.2], 0.25)
    assert "does not fire at strength 1" in quiet
    always = figs.sweep_sentence("noise", s, [base] * 3, [0.5, 0.6, 0.7], 0.25)
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
    clean = _rows(300, 15)[0]
    correct = {"dim": _rows(300, 15, 3)[1], "noise": _rows(300, 15, 165)[1],
               "turn": _rows(300, 15, 135)[1]}  # fmt: skip
    text = figs.kinds_summary(table, clean, correct, 0.5)
    assert "dim at 0.5: PSI, KS; accuracy 0.940 (did not fall beyond noise, -0.010: 3 rows" in text
    assert "fired on 1 of the 2 kinds whose accuracy fell beyond noise (silent on: turn)" in text
    calm_kinds = figs.kinds_summary(table, clean, dict.fromkeys(correct, clean), 0.5)
    assert "no kind's accuracy fell beyond noise at this strength; it also fired on 1" in calm_kinds
    alerts = {"dim": [{"PSI": False, "KS": False}, {"PSI": False, "KS": True},
                      {"PSI": True, "KS": True}]}  # fmt: skip
    assert figs.ks_without_psi([0, 0.1, 0.2], alerts, 300) == (
        "KS alerted without PSI at: dim at 0.1; "
        "PSI alerted without KS at: no strength of this sweep. Where KS alerts alone, values "
        "moved without leaving enough of PSI's bins: the KS test sees every value move"
    )
    # On small windows PSI's noise alone alerts on the clean window: a false alarm, said so
    noisy = {k: [{"PSI": True, "KS": False}, {"PSI": True, "KS": False}] for k in ("a", "b")}
    text = figs.ks_without_psi([0, 0.1], noisy, 20)
    assert "PSI alerted without KS at: the clean window (strength 0), a at 0.1, b at 0.1" in text
    assert "PSI alerted on the clean window itself: at 20 rows that is sampling noise" in text
    assert "where PSI alerts alone on a drifted window, its noise alone would too" in text
    assert figs.ks_without_psi([0, 0.1], {"a": [{"PSI": 0, "KS": 0}] * 2}, 20).endswith("sweep")


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
    base = _rows(300, 15)[0]
    correct = {k: [base, _rows(300, 15, 2)[1], _rows(300, 15, 100)[1]] for k in figs.KINDS}
    shift = {k: [0.2, 1.0, 3.0] for k in figs.KINDS}
    alerted = {k: [False, True, True] for k in figs.KINDS}
    acc_ax, shift_ax = figs.sweep_figure(s, correct, shift, alerted, 0.25).axes
    assert len(acc_ax.lines) == len(figs.KINDS) and acc_ax.get_ylim()[0] == 0
    assert len(shift_ax.lines) == len(figs.KINDS) and shift_ax.get_ylim()[0] == 0
    filled, hollow = acc_ax.collections[:2]  # the first kind: only strength 1 fell
    assert len(filled.get_offsets()) == 1 and len(hollow.get_offsets()) == 2
    filled, hollow = shift_ax.collections[:2]  # PSI alerted from 0.5 on
    assert len(filled.get_offsets()) == 2 and len(hollow.get_offsets()) == 1
    grid = np.geomspace(0.01, 10, 20)
    (ax,) = figs.false_alarm_figure(grid, {"a": grid * 0, "b": grid * 0}, 0.25, 200).axes
    assert len(ax.lines) == 3 and ax.get_xscale() == "log"


def test_the_latency_sentence_explains_a_server_p99_above_the_clients():
    from labkit.monitor import LatencyCheck

    high = LatencyCheck(0.99, 9.97, 200, 100.0, {}, (5.0, 10.0))
    text = figs.latency_sentence(high, 5.3)
    assert "9.97 ms, above the client's own 5.3 ms" in text
    assert "between 5 and 10 ms (its bucket), and interpolating linearly" in text
    low = figs.latency_sentence(LatencyCheck(0.99, 4.95, 200, 100.0, {}, (2.0, 5.0)), 5.62)
    assert "at most the client's 5.62 ms" in low and "above" not in low


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
    before, after = _rows(200, 10, flipped=110)
    text = figs.live_sentence("rotation", 1.0, before, after, report)
    assert text.startswith("rotation at strength 1, a window of 200 rows: alerts fired: PSI (")
    assert "predictions (class-mix PSI" in text
    assert "accuracy fell from 0.950 to 0.400, beyond noise (-0.550: 110 rows turned wrong" in text
    calm = monitor.check(ref, _digits(200, seed=3), reference_pred=pred,
                         live_pred=rng.integers(0, 10, 200), classes=10)  # fmt: skip
    quiet = figs.live_sentence("noise", 0.0, *_rows(200, 10, flipped=2), calm)
    assert "no alert fired (0 pixels > 0.25" in quiet, quiet
    assert "accuracy 0.950 → 0.940, no change beyond noise (-0.010: 2 rows turned wrong" in quiet
    same = figs.live_sentence("shift", 0.0, before, before, calm)
    assert same.endswith("; accuracy 0.950, no row changed its answer"), same
