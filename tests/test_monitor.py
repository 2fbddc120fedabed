"""Drift alerts on seeded data: true negatives, true positives, and the numbers behind them."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from labkit.monitor import (
    DriftThresholds,
    check,
    feature_drift,
    histogram_quantile,
    latency_slo,
    prediction_shift,
    psi,
)
from labkit.validate import ConfigError

N, F = 1000, 20  # rows per window, features


def windows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two clean windows of the same distribution (features of different scales)."""
    rng = np.random.default_rng(seed)
    scale = np.linspace(0.5, 3.0, F)
    return rng.normal(size=(N, F)) * scale, rng.normal(size=(N, F)) * scale


# --- PSI ------------------------------------------------------------------------------------


def test_psi_is_zero_for_identical_windows_and_grows_with_the_shift():
    x = np.random.default_rng(1).normal(size=2000)
    assert psi(x, x) == 0.0
    scores = [psi(x, x + shift) for shift in (0.1, 0.3, 0.6, 1.0, 2.0)]
    assert (np.diff(scores) > 0).all()
    assert scores[0] < 0.1 < 0.25 < scores[-2]  # small shift: stable; one std: major


def test_psi_of_two_clean_samples_is_near_its_noise_floor():
    rng = np.random.default_rng(2)
    scores = [psi(rng.normal(size=N), rng.normal(size=N)) for _ in range(20)]
    floor = 10 * (2 / N)  # (k − 1)·(1/n_ref + 1/n_live), k = 11 bins filled (10 + the min's)
    assert 0.3 * floor < np.mean(scores) < 3 * floor


def test_psi_noise_of_a_few_valued_feature_counts_the_bins_it_fills():
    # A pixel-like feature with 3 values fills k = 3 bins, whatever `bins` asks for: its noise
    # is (k − 1)·(1/n_ref + 1/n_live), not bins·(…), which would be 5 times as much.
    rng = np.random.default_rng(5)
    draw = lambda: rng.choice(3, 400, p=[0.6, 0.3, 0.1]).astype(float)  # noqa: E731
    mean = np.mean([psi(draw(), draw()) for _ in range(200)])
    assert mean == pytest.approx((3 - 1) * (2 / 400), rel=0.2)
    assert mean < 0.3 * 10 * (2 / 400)


def test_psi_handles_constant_and_few_valued_features():
    zeros = np.zeros(500)
    assert psi(zeros, zeros) == 0.0
    assert psi(zeros, np.ones(500)) > 1.0  # a constant that moved is a major shift
    assert psi(zeros, -np.ones(500)) > 1.0
    rng = np.random.default_rng(3)
    pixels = np.where(rng.random(500) < 0.8, 0.0, 1.0)  # a digit pixel: mostly 0
    assert psi(pixels, np.where(rng.random(500) < 0.8, 0.0, 1.0)) < 0.05
    assert psi(pixels, np.where(rng.random(500) < 0.3, 0.0, 1.0)) > 0.25


# --- per-feature drift and the alerts ---------------------------------------------------------


def test_clean_windows_raise_no_alert():
    ref, live = windows()
    report = check(ref, live)
    assert not report.alert and report.alerts == []
    assert report.max_psi < 0.1
    assert report.drifted_features == 0 and report.ks_drifted_features == 0
    assert "no alert" in str(report)


@pytest.mark.parametrize("change", ["shift", "scale"])
def test_shifted_or_scaled_window_raises_the_input_drift_alert(change):
    ref, live = windows()
    live = live.copy()
    cols = [3, 7, 11]
    if change == "shift":
        live[:, cols] += 1.0 * ref[:, cols].std(axis=0)  # one std up
    else:
        live[:, cols] *= 2.5
    report = check(ref, live)
    assert report.alert
    assert report.drifted_features == 3
    assert report.max_psi_feature in cols and report.max_psi > 0.25
    assert {f.feature for f in report.features if f.ks_pvalue < 0.01 / F} == set(cols)
    assert any(f"3 of {F} features have PSI > 0.25" in a for a in report.alerts)
    assert f"on feature {report.max_psi_feature}" in report.alerts[0]


def test_share_of_features_tolerates_a_few_drifted_features():
    ref, live = windows()
    live = live.copy()
    live[:, 0] += 5.0  # one feature of 20 drifted
    assert check(ref, live).alert
    assert not check(ref, live, thresholds=DriftThresholds(share_of_features=0.1)).alert


def test_constant_features_give_psi_0_and_pvalue_1_without_warnings():
    ref, live = windows()
    ref[:, :4] = 0.0
    live[:, :4] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = feature_drift(ref, live)
        report = check(ref, live)
    assert [(r.psi, r.ks_statistic, r.ks_pvalue) for r in result[:4]] == [(0.0, 0.0, 1.0)] * 4
    assert not report.alert


def test_prediction_shift_alert_fires_when_the_class_mix_changes():
    rng = np.random.default_rng(4)
    ref, live = windows()
    ref_pred = rng.integers(0, 10, N)
    same_pred = rng.integers(0, 10, N)
    # The live model now says '1' for half the rows.
    skewed = np.where(rng.random(N) < 0.5, 1, rng.integers(0, 10, N))
    assert prediction_shift(ref_pred, ref_pred, 10) == 0.0
    assert prediction_shift(ref_pred, same_pred, 10) < 0.05
    calm = check(ref, live, reference_pred=ref_pred, live_pred=same_pred, classes=10)
    assert not calm.alert and calm.prediction_psi < 0.05
    report = check(ref, live, reference_pred=ref_pred, live_pred=skewed, classes=10)
    assert report.prediction_psi > 0.25
    assert report.alerts == [
        f"prediction drift: the predicted-class mix has PSI {report.prediction_psi:.3g} > 0.25"
    ]


def test_report_to_metrics_is_flat_numbers_and_bools():
    ref, live = windows()
    metrics = check(ref, live + 3.0, metrics_text=METRICS).to_metrics()
    assert metrics["drift_alert"] is True and metrics["drifted_features"] == F
    assert metrics["latency_ms"] == pytest.approx(100.0) and metrics["latency_slo_ok"] is True
    assert all(isinstance(v, (bool, int, float)) for v in metrics.values())


# --- latency from Prometheus text ------------------------------------------------------------

METRICS = """\
# HELP labkit_request_seconds Time to answer a request
# TYPE labkit_request_seconds histogram
labkit_request_seconds_bucket{le="0.005",path="/predict"} 20.0
labkit_request_seconds_bucket{le="0.01",path="/predict"} 60.0
labkit_request_seconds_bucket{le="0.05",path="/predict"} 90.0
labkit_request_seconds_bucket{le="0.1",path="/predict"} 98.0
labkit_request_seconds_bucket{le="+Inf",path="/predict"} 100.0
labkit_request_seconds_count{path="/predict"} 100.0
labkit_request_seconds_sum{path="/predict"} 1.5
labkit_request_seconds_bucket{le="0.005",path="/health"} 100.0
labkit_request_seconds_bucket{le="0.01",path="/health"} 100.0
labkit_request_seconds_bucket{le="0.05",path="/health"} 100.0
labkit_request_seconds_bucket{le="0.1",path="/health"} 100.0
labkit_request_seconds_bucket{le="+Inf",path="/health"} 100.0
labkit_request_seconds_count{path="/health"} 100.0
labkit_request_seconds_sum{path="/health"} 0.1
"""


@pytest.mark.parametrize(
    ("quantile", "expected_ms"),
    [
        (0.1, 0.005 * 10 / 20 * 1000),  # rank 10 in the first bucket [0, 5 ms): 2.5 ms
        (0.5, (0.005 + 0.005 * (50 - 20) / (60 - 20)) * 1000),  # rank 50 in [5, 10 ms)
        (0.9, 50.0),  # rank 90 is exactly the top of [10, 50 ms)
        (0.95, (0.05 + 0.05 * (95 - 90) / (98 - 90)) * 1000),  # 81.25 ms
        (0.99, 100.0),  # rank 99 in the +Inf bucket: the largest finite bound
    ],
)
def test_latency_slo_interpolates_within_the_bucket(quantile, expected_ms):
    result = latency_slo(METRICS, quantile=quantile, slo_ms=60.0)
    assert result.count == 100 and result.labels == {"path": "/predict"}
    assert result.estimate_ms == pytest.approx(expected_ms)
    assert result.ok == (expected_ms <= 60.0)


def test_latency_slo_label_filter_and_sum_over_series():
    # All series summed (sum by le): 200 requests, 120 under 5 ms, so p50 = 5·100/120 ms.
    both = latency_slo(METRICS, quantile=0.5, labels={})
    assert both.count == 200 and both.estimate_ms == pytest.approx(5.0 * 100 / 120)
    health = latency_slo(METRICS, quantile=0.5, labels={"path": "/health"})
    assert health.estimate_ms == pytest.approx(2.5)


def test_latency_over_the_slo_alerts_and_no_data_does_not():
    ref, live = windows()
    slow = check(ref, live, metrics_text=METRICS, thresholds=DriftThresholds(slo_ms=50.0))
    assert slow.alerts == ["latency: p99 ≈ 100 ms over 100 requests exceeds the SLO of 50 ms"]
    empty = "# HELP labkit_request_seconds x\n# TYPE labkit_request_seconds histogram\n"
    result = latency_slo(empty)
    assert not result.has_data and result.ok and result.count == 0
    assert math.isnan(result.estimate_ms) and "no data" in str(result)
    report = check(ref, live, metrics_text=empty)
    assert not report.alert and "latency_ms" not in report.to_metrics()


def test_latency_slo_reads_prometheus_client_output():
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    registry = CollectorRegistry()
    h = Histogram("labkit_request_seconds", "t", ["path"], registry=registry, buckets=(0.01, 0.1))
    for v in [0.005] * 30 + [0.05] * 70:
        h.labels(path="/predict").observe(v)
    h.labels(path="/metrics").observe(5.0)
    result = latency_slo(generate_latest(registry).decode(), quantile=0.65)
    # rank 65 in [10, 100 ms) holding ranks 30..100: 10 + 90·35/70 = 55 ms.
    assert result.count == 100 and result.estimate_ms == pytest.approx(55.0)
    assert histogram_quantile(0.65, [(0.01, 30), (0.1, 100), (math.inf, 100)]) == pytest.approx(
        0.055
    )


def test_histogram_quantile_follows_prometheus_at_the_edges():
    empty_first = [(0.005, 0.0), (0.01, 5.0), (math.inf, 5.0)]
    # q = 0 with an empty first bucket is 0/0 in Prometheus: NaN, not a ZeroDivisionError
    assert math.isnan(histogram_quantile(0.0, empty_first))
    assert histogram_quantile(0.0, [(0.005, 2.0), (math.inf, 5.0)]) == 0.0  # the lower bound
    assert histogram_quantile(1e-9, empty_first) == pytest.approx(0.005)
    assert histogram_quantile(-0.5, empty_first) == -math.inf
    assert histogram_quantile(1.5, empty_first) == math.inf
    assert math.isnan(histogram_quantile(math.nan, empty_first))
    assert math.isnan(histogram_quantile(0.5, [(0.005, 2.0), (0.01, 5.0)]))  # no +inf bucket
    assert histogram_quantile(0.99, [(-1.0, 3.0), (math.inf, 3.0)]) == -1.0  # le <= 0: le


def test_latency_slo_tells_the_bucket_and_refuses_quantile_0():
    result = latency_slo(METRICS, quantile=0.5)
    assert result.bucket_ms == pytest.approx((5.0, 10.0))
    assert result.bucket_ms[0] <= result.estimate_ms <= result.bucket_ms[1]
    assert latency_slo(METRICS, quantile=0.99).bucket_ms == (100.0, math.inf)  # the +Inf one
    with pytest.raises(ConfigError, match="quantile must be a finite number > 0"):
        latency_slo(METRICS, quantile=0.0)
    with pytest.raises(ConfigError, match="latency_quantile must be a finite number > 0"):
        DriftThresholds(latency_quantile=0)


def test_latency_slo_since_an_earlier_scrape_counts_only_the_requests_after_it():
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    registry = CollectorRegistry()
    h = Histogram("labkit_request_seconds", "t", ["path"], registry=registry, buckets=(0.01, 0.1))
    for _ in range(50):
        h.labels(path="/predict").observe(0.5)  # slow requests before the window
    before = generate_latest(registry).decode()
    for _ in range(100):
        h.labels(path="/predict").observe(0.005)
    after = generate_latest(registry).decode()
    assert latency_slo(after, quantile=0.9).estimate_ms == 100.0  # all 150: rank in +Inf
    window = latency_slo(after, quantile=0.9, since=before)
    assert window.count == 100 and window.estimate_ms == pytest.approx(9.0)  # 10 ms · 90/100
    with pytest.raises(ConfigError, match="since must be an earlier scrape"):
        latency_slo(before, since=after)


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda r, x: feature_drift(r, x[:, :5]), "live"),
        (lambda r, x: feature_drift(r[:, 0], x), "reference"),
        (lambda r, x: feature_drift(r, x[:1]), "live"),
        (lambda r, x: feature_drift(r, np.where(x > 2, np.nan, x)), "live"),
        (lambda r, x: feature_drift(r, x, bins=1), "bins"),
        (lambda r, x: feature_drift([["a"]], x), "reference"),
        (lambda r, x: psi(r, x[:, 0]), "reference"),
        (lambda r, x: prediction_shift([0, 1, 2], [0, 1, 10], 10), "live_classes"),
        (lambda r, x: prediction_shift([0, 0.5], [0, 1], 10), "reference_classes"),
        (lambda r, x: prediction_shift([0, 1], [0, 1], 1), "classes"),
        (lambda r, x: check(r, x, reference_pred=[0, 1]), "live_pred"),
        (lambda r, x: check(r, x, reference_pred=[0], live_pred=[1]), "classes"),
        (lambda r, x: check(r, x, thresholds={"psi": 0.1}), "thresholds"),
        (lambda r, x: latency_slo(METRICS, quantile=1.5), "quantile"),
        (lambda r, x: latency_slo(METRICS, slo_ms=0), "slo_ms"),
        (lambda r, x: latency_slo(METRICS, metric="nope"), "nope"),
        (lambda r, x: latency_slo(b"bytes"), "metrics_text"),
        (lambda r, x: latency_slo("not {{ prometheus"), "metrics_text"),
    ],
)
def test_bad_arguments_raise_errors_naming_them(call, name):
    ref, live = windows()
    with pytest.raises(ConfigError, match=name):
        call(ref, live)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"psi": 0}, "psi"),
        ({"ks_pvalue": 1.5}, "ks_pvalue"),
        ({"share_of_features": 1.0}, "share_of_features"),
        ({"prediction_psi": -1}, "prediction_psi"),
        ({"latency_quantile": 2}, "latency_quantile"),
        ({"slo_ms": math.nan}, "slo_ms"),
    ],
)
def test_thresholds_are_validated_on_construction(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        DriftThresholds(**kwargs)


def test_monitor_imports_no_torch():
    code = "import sys, labkit.monitor; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
