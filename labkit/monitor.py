"""Drift alerts for a deployed model: is the live traffic still the traffic it was trained on?

A model is only as good as the match between the inputs it sees and the inputs it learnt
from. This module compares a *reference* window (e.g. the validation set, or the first
hour of traffic) with a *live* window of the same features, as the deployed model sees
them (rows × features), and says which alerts fire and why:

- input drift by the population stability index (PSI, a size of the shift per feature) and
  by the two-sample Kolmogorov–Smirnov test (scipy, a significance per feature, Bonferroni
  corrected over the features);
- prediction drift: PSI of the predicted-class mix (needs no labels, which live traffic
  rarely has);
- a latency SLO read from the server's Prometheus `/metrics` histogram.

Thresholds are parameters (`DriftThresholds`), and every alert carries its reason in words
computed from the numbers. Imports only numpy, scipy and the standard library (and
prometheus-client's parser when reading metrics), so a monitoring job needs no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from labkit.validate import ConfigError, check_float, check_int, check_str

EPS = 1e-4  # the share given to an empty bin, so PSI stays finite (log of 0)
DEFAULT_LABELS = {"path": "/predict"}  # the serving endpoint, when the histogram has `path`


# --- population stability index -------------------------------------------------------------


def _psi_from_shares(p_ref: np.ndarray, p_live: np.ndarray) -> float:
    """PSI = Σ (live − ref) · ln(live / ref) over bins, empty bins lifted to EPS."""
    p_ref = np.maximum(p_ref, EPS)
    p_live = np.maximum(p_live, EPS)
    return float(np.sum((p_live - p_ref) * np.log(p_live / p_ref)))


def _psi_1d(ref: np.ndarray, live: np.ndarray, bins: int) -> float:
    # Edges at the reference's quantiles (min and max included), deduplicated: a constant or
    # few-valued feature (a digit's border pixel, 0 almost always) gets fewer bins, not empty
    # ones. Bins: below the reference's min, [e0] itself, (e0, e1], ..., above its max; so a
    # constant sits alone in one bin and a live shift either way leaves it.
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    n = len(edges) + 2

    def shares(v: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, v, side="left") + (v >= edges[0])
        return np.bincount(idx, minlength=n) / len(v)

    p_ref, p_live = shares(ref), shares(live)
    return _psi_from_shares(p_ref, p_live)


def _as_array(name: str, value: Any, ndim: int, min_rows: int) -> np.ndarray:
    """`value` as a finite float array of `ndim` dimensions with at least `min_rows` rows."""
    try:
        x = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name} must be an array of numbers; got {type(value).__name__}") from e
    what = "1-D array (values)" if ndim == 1 else "2-D array (rows, features)"
    if x.ndim != ndim:
        raise ConfigError(f"{name} must be a {what}; got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise ConfigError(f"{name} must have at least {min_rows} rows; got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ConfigError(f"{name} must be finite; it holds {int((~np.isfinite(x)).sum())} NaN/inf")
    return x


def psi(reference: Any, live: Any, bins: int = 10) -> float:
    """Population stability index of one feature: how far `live`'s distribution moved from
    `reference`'s, over bins cut at the reference's quantiles (deduplicated).

    The usual reading: < 0.1 stable, 0.1–0.25 a moderate shift, > 0.25 a major shift. It is
    0 for identical windows and grows with the shift, up to 2·(1 − EPS)·ln(1/EPS) ≈ 18.4 when
    every value left its bin. Two samples of the same distribution score about
    (k − 1)·(1/n_ref + 1/n_live) from sampling noise alone, k the bins the reference fills
    (about `bins` for a continuous feature, fewer for a few-valued one), as long as each bin
    expects several live values: an empty live bin is lifted to EPS and scores far more.
    """
    check_int("bins", bins, minimum=2)
    ref = _as_array("reference", reference, 1, 1)
    return _psi_1d(ref, _as_array("live", live, 1, 1), bins)


# --- per-feature drift ----------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDrift:
    """Drift scores of one feature column."""

    feature: int  # column index
    psi: float  # population stability index, reference → live
    ks_statistic: float  # largest gap between the two empirical CDFs, in [0, 1]
    ks_pvalue: float  # chance of a gap this large if both windows had one distribution


def feature_drift(reference: Any, live: Any, *, bins: int = 10) -> list[FeatureDrift]:
    """PSI and the KS test (scipy.stats.ks_2samp) for each feature column of two 2-D windows
    (rows × features). A feature constant and equal in both windows scores PSI 0, p-value 1."""
    check_int("bins", bins, minimum=2)
    ref = _as_array("reference", reference, 2, 2)
    cur = _as_array("live", live, 2, 2)
    if ref.shape[1] != cur.shape[1]:
        raise ConfigError(
            f"live must have as many features as reference ({ref.shape[1]}); got {cur.shape[1]}"
        )
    # One test per column, vectorized. Exact p-values for small windows; for large ones the
    # exact calculation is slow and can fail (scipy then warns), and the asymptotic one is good.
    method = "exact" if len(ref) * len(cur) <= 10_000 else "asymp"
    ks = stats.ks_2samp(ref, cur, axis=0, method=method)
    stat = np.atleast_1d(ks.statistic)
    pvalue = np.atleast_1d(ks.pvalue)
    return [
        FeatureDrift(j, _psi_1d(ref[:, j], cur[:, j], bins), float(stat[j]), float(pvalue[j]))
        for j in range(ref.shape[1])
    ]


# --- prediction drift -----------------------------------------------------------------------


def _class_shares(name: str, value: Any, classes: int) -> np.ndarray:
    x = _as_array(name, value, 1, 1)
    if not (x == np.round(x)).all() or x.min() < 0 or x.max() >= classes:
        raise ConfigError(f"{name} must hold class indices in 0..{classes - 1}; got {value!r:.80}")
    return np.bincount(x.astype(np.int64), minlength=classes) / len(x)


def prediction_shift(reference_classes: Any, live_classes: Any, classes: int) -> float:
    """PSI of the predicted-class mix (share of predictions per class), reference → live.
    It needs no labels: a model that suddenly predicts '1' twice as often says the traffic
    (or the model) changed."""
    check_int("classes", classes, minimum=2)
    p_ref = _class_shares("reference_classes", reference_classes, classes)
    return _psi_from_shares(p_ref, _class_shares("live_classes", live_classes, classes))


# --- latency SLO from Prometheus text --------------------------------------------------------


@dataclass(frozen=True)
class LatencyCheck:
    """A latency quantile estimated from a Prometheus histogram, against its SLO."""

    quantile: float  # e.g. 0.99
    estimate_ms: float  # the estimated quantile in ms; nan when there were no requests
    count: int  # requests counted by the histogram (after the label filter)
    slo_ms: float  # the objective: the quantile must be <= this
    labels: dict[str, str]  # the label filter the series were selected by
    # The bucket the quantile fell in, (lower, upper) bound in ms: all the histogram knows is
    # that the quantile lies in there; the estimate interpolates linearly inside it.
    bucket_ms: tuple[float, float] = (math.nan, math.nan)

    @property
    def has_data(self) -> bool:
        return self.count > 0

    @property
    def ok(self) -> bool:
        """True when the SLO holds, or when there is no data yet (nothing to alert on)."""
        return not self.has_data or self.estimate_ms <= self.slo_ms

    def __str__(self) -> str:
        q = f"p{self.quantile * 100:g}"
        if not self.has_data:
            return f"latency: no data (0 requests{_labels_text(self.labels)}), {q} not checked"
        verdict = "within" if self.ok else "over"
        return (
            f"latency: {q} ≈ {self.estimate_ms:.3g} ms over {self.count} requests, "
            f"{verdict} the SLO of {self.slo_ms:g} ms"
        )


def _labels_text(labels: Mapping[str, str]) -> str:
    return "".join(f" {k}={v!r}" for k, v in labels.items())


Buckets = Sequence[tuple[float, float]]  # cumulative (upper bound, count), ending with +inf


def _bucket_quantile(q: float, buckets: Buckets) -> tuple[float, float, float]:
    """(estimate, lower bound, upper bound of the bucket it fell in), by Prometheus's rule."""
    nan = (math.nan, math.nan, math.nan)
    if math.isnan(q):
        return nan
    if q < 0 or q > 1:
        return (-math.inf if q < 0 else math.inf, math.nan, math.nan)
    buckets = sorted(buckets)
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]) or buckets[-1][1] <= 0:
        return nan
    rank = q * buckets[-1][1]
    b = next(i for i, (_, c) in enumerate(buckets) if c >= rank or i == len(buckets) - 1)
    if b == len(buckets) - 1:  # the +inf bucket: no upper bound to interpolate to
        return buckets[-2][0], buckets[-2][0], math.inf
    start, below = (0.0, 0.0) if b == 0 else buckets[b - 1]
    end, upto = buckets[b]
    if b == 0 and end <= 0:
        return end, -math.inf, end
    if upto == below:  # q = 0 with an empty first bucket: 0/0, which Prometheus gives as NaN
        return math.nan, start, end
    return start + (end - start) * (rank - below) / (upto - below), start, end


def histogram_quantile(q: float, buckets: Buckets) -> float:
    """The q-quantile from cumulative (upper bound, count) buckets ending with +inf, by linear
    interpolation within the bucket the rank q·total falls in, as Prometheus's
    histogram_quantile does (the first bucket starts at 0; a rank in the +inf bucket gives the
    largest finite bound). Its special cases too: nan for an empty histogram, one without a
    +inf bucket, q nan, or q = 0 when the first bucket is empty (0/0); -inf for q < 0, +inf
    for q > 1."""
    return _bucket_quantile(q, buckets)[0]


def _bucket_counts(
    name: str, text: str, metric: str, labels: Mapping[str, str] | None
) -> tuple[dict[float, float], dict[str, str]]:
    """The histogram's cumulative count per upper bound (s), summed over the series that match
    `labels` (default: path=/predict when there is a `path` label), and that filter."""
    from prometheus_client.parser import text_string_to_metric_families

    check_str(name, text)
    try:
        families = {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as e:  # the parser raises ValueError, IndexError, ... on bad text
        raise ConfigError(f"{name} is not Prometheus text exposition: {e}") from e
    family = families.get(metric)
    if family is None or family.type != "histogram":
        found = ", ".join(n for n, f in families.items() if f.type == "histogram") or "none"
        raise ConfigError(f"metric {metric!r} is not a histogram in {name}; found: {found}")
    series = [s for s in family.samples if s.name == metric + "_bucket"]
    if labels is None:
        has_path = any("path" in s.labels for s in series)
        labels = dict(DEFAULT_LABELS) if has_path or not series else {}
    labels = dict(labels)
    counts: dict[float, float] = {}
    for s in series:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            le = float(s.labels["le"])
            counts[le] = counts.get(le, 0.0) + s.value
    if counts and math.inf not in counts:
        raise ConfigError(f'metric {metric!r} has no le="+Inf" bucket in {name}')
    return counts, labels


def latency_slo(
    metrics_text: str,
    *,
    quantile: float = 0.99,
    slo_ms: float = 100.0,
    metric: str = "labkit_request_seconds",
    labels: Mapping[str, str] | None = None,
    since: str | None = None,
) -> LatencyCheck:
    """Estimate a latency quantile (in ms) from a Prometheus text exposition of a histogram in
    seconds (`GET /metrics` of `labkit serve`) and check it against `slo_ms`.

    Series are selected by `labels`; by default `{"path": "/predict"}` when the histogram
    has a `path` label (so /health and /metrics calls do not count), else all series.
    Matching series are summed per bucket, as `sum by (le)` does. `since`, an earlier scrape
    of the same server, limits the check to the requests counted after it (each bucket's
    increase, as Prometheus's `increase()` over a window). Zero requests give a result with
    `has_data` False, which does not alert. `quantile` is in (0, 1]: at 0 the estimate is
    the lower bound of the first bucket, or 0/0 when it is empty, not a latency to check.
    """
    check_str("metric", metric)
    check_float("quantile", quantile, positive=True, maximum=1.0)
    check_float("slo_ms", slo_ms, positive=True)
    counts, labels = _bucket_counts("metrics_text", metrics_text, metric, labels)
    if since is not None:
        before, _ = _bucket_counts("since", since, metric, labels)
        if any(before.get(le, 0.0) > c for le, c in counts.items()) or before.keys() - counts:
            raise ConfigError(
                "since must be an earlier scrape of the same server: a count in it is larger "
                "than in metrics_text (or a bucket is missing), as after a restart"
            )
        counts = {le: c - before.get(le, 0.0) for le, c in counts.items()}
    if not counts or max(counts.values()) <= 0:
        return LatencyCheck(quantile, math.nan, 0, slo_ms, labels)
    seconds, lower, upper = _bucket_quantile(quantile, list(counts.items()))
    return LatencyCheck(
        quantile, 1000.0 * seconds, int(counts[math.inf]), slo_ms, labels,
        (1000.0 * lower, 1000.0 * upper),
    )  # fmt: skip


# --- thresholds, check and report -----------------------------------------------------------


@dataclass(frozen=True)
class DriftThresholds:
    """When `check` raises each alert. Validated on construction."""

    # A feature has drifted when its PSI is above this (0.25: the usual "major shift").
    # Clean windows score about (k − 1)·(1/n_ref + 1/n_live) from noise alone, k the bins the
    # reference fills (see `psi`), so windows need a few hundred rows each (10 bins, 500
    # rows: ~0.04) to keep false alarms rare.
    psi: float = 0.25
    # Family-wise level of the KS tests: a feature rejects when p < ks_pvalue / n_features
    # (Bonferroni), so on clean windows the KS alert fires in at most ~1 % of checks.
    ks_pvalue: float = 0.01
    # Input-drift alerts fire when more than this share of the features drifted
    # (0.0: any one feature is enough).
    share_of_features: float = 0.0
    # The prediction-drift alert fires when the predicted-class mix's PSI is above this.
    prediction_psi: float = 0.25
    # Latency SLO: this quantile of request latency, in (0, 1], must be at most slo_ms.
    latency_quantile: float = 0.99
    slo_ms: float = 100.0

    def __post_init__(self) -> None:
        check_float("psi", self.psi, positive=True)
        check_float("ks_pvalue", self.ks_pvalue, positive=True, maximum=1.0)
        check_float("share_of_features", self.share_of_features, minimum=0.0)
        if self.share_of_features >= 1.0:
            raise ConfigError(f"share_of_features must be < 1; got {self.share_of_features!r}")
        check_float("prediction_psi", self.prediction_psi, positive=True)
        check_float("latency_quantile", self.latency_quantile, positive=True, maximum=1.0)
        check_float("slo_ms", self.slo_ms, positive=True)


@dataclass
class Report:
    """What `check` found: the alerts that fire (with reasons) and the scores behind them."""

    alerts: list[str]  # one sentence per alert that fires; empty when all is well
    features: list[FeatureDrift]  # per-feature scores
    max_psi: float  # largest per-feature PSI
    max_psi_feature: int  # the feature it is on
    drifted_features: int  # features with PSI above the threshold
    ks_drifted_features: int  # features whose KS test rejects after Bonferroni
    prediction_psi: float | None = None  # PSI of the predicted-class mix, if given
    latency: LatencyCheck | None = None  # the latency SLO check, if metrics were given
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)

    @property
    def alert(self) -> bool:
        return bool(self.alerts)

    def to_metrics(self) -> dict[str, float | int | bool]:
        """A flat dict of numbers and bools for metrics.json (absent checks are left out)."""
        out: dict[str, float | int | bool] = {
            "drift_alert": self.alert,
            "n_alerts": len(self.alerts),
            "n_features": len(self.features),
            "max_psi": self.max_psi,
            "max_psi_feature": self.max_psi_feature,
            "drifted_features": self.drifted_features,
            "ks_drifted_features": self.ks_drifted_features,
            "min_ks_pvalue": min(f.ks_pvalue for f in self.features),
        }
        if self.prediction_psi is not None:
            out["prediction_psi"] = self.prediction_psi
        if self.latency is not None:
            out["latency_count"] = self.latency.count
            out["latency_slo_ok"] = self.latency.ok
            if self.latency.has_data:
                out["latency_ms"] = self.latency.estimate_ms
        return out

    def __str__(self) -> str:
        head = f"{len(self.alerts)} alert(s)" if self.alerts else "no alert"
        lines = [f"drift report: {head}"]
        lines += [f"  ALERT {a}" for a in self.alerts]
        lines.append(
            f"  inputs: {len(self.features)} features, max PSI {self.max_psi:.3g} "
            f"(feature {self.max_psi_feature}), {self.drifted_features} with PSI > "
            f"{self.thresholds.psi:g}, {self.ks_drifted_features} rejecting KS"
        )
        if self.prediction_psi is not None:
            lines.append(f"  predictions: PSI {self.prediction_psi:.3g}")
        if self.latency is not None:
            lines.append(f"  {self.latency}")
        return "\n".join(lines)


def check(
    reference: Any,
    live: Any,
    *,
    reference_pred: Any = None,
    live_pred: Any = None,
    classes: int | None = None,
    metrics_text: str | None = None,
    thresholds: DriftThresholds = DriftThresholds(),  # frozen, so one shared default is safe
) -> Report:
    """Compare a live window with a reference window (rows × features) and report which
    alerts fire and why: input drift by PSI and by KS, prediction drift when both windows'
    predicted classes are given (with `classes`), latency when `metrics_text` is given."""
    if not isinstance(thresholds, DriftThresholds):
        raise ConfigError(f"thresholds must be a DriftThresholds; got {thresholds!r}")
    features = feature_drift(reference, live)
    n = len(features)
    allowed = thresholds.share_of_features * n  # alert when more than this many drifted
    psis = np.array([f.psi for f in features])
    pvalues = np.array([f.ks_pvalue for f in features])
    worst = int(np.argmax(psis))
    drifted = int((psis > thresholds.psi).sum())
    level = thresholds.ks_pvalue / n  # Bonferroni over the features
    ks_drifted = int((pvalues < level).sum())
    alerts = []
    if drifted > allowed:
        alerts.append(
            f"input drift: {drifted} of {n} features have PSI > {thresholds.psi:g} "
            f"(largest {psis[worst]:.3g} on feature {worst})"
        )
    if ks_drifted > allowed:
        low = int(np.argmin(pvalues))
        alerts.append(
            f"input drift: {ks_drifted} of {n} features reject the KS test at p < "
            f"{thresholds.ks_pvalue:g}/{n} (smallest p {pvalues[low]:.2g} on feature {low})"
        )

    pred_psi = None
    if reference_pred is not None or live_pred is not None:
        missing = [
            name
            for name, v in (("reference_pred", reference_pred), ("live_pred", live_pred))
            if v is None
        ] + (["classes"] if classes is None else [])
        if missing:
            raise ConfigError(
                f"prediction drift needs reference_pred, live_pred and classes; "
                f"missing: {', '.join(missing)}"
            )
        pred_psi = prediction_shift(reference_pred, live_pred, classes)
        if pred_psi > thresholds.prediction_psi:
            alerts.append(
                f"prediction drift: the predicted-class mix has PSI {pred_psi:.3g} > "
                f"{thresholds.prediction_psi:g}"
            )

    latency = None
    if metrics_text is not None:
        latency = latency_slo(
            metrics_text, quantile=thresholds.latency_quantile, slo_ms=thresholds.slo_ms
        )
        if not latency.ok:
            alerts.append(
                f"latency: p{latency.quantile * 100:g} ≈ {latency.estimate_ms:.3g} ms over "
                f"{latency.count} requests exceeds the SLO of {latency.slo_ms:g} ms"
            )

    return Report(
        alerts=alerts,
        features=features,
        max_psi=float(psis[worst]),
        max_psi_feature=worst,
        drifted_features=drifted,
        ks_drifted_features=ks_drifted,
        prediction_psi=pred_psi,
        latency=latency,
        thresholds=thresholds,
    )
