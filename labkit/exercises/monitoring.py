"""Notebook 12 (monitoring): `psi` and `histogram_quantile`.

`psi(reference, live, bins=10)` is graded on pairs of one feature's values against
`labkit.monitor.psi`: identical windows, a sample of the same distribution, a shifted one, a
wider one (live values beyond the reference's range), a constant reference (a digit's border
pixel), pixel-like integers with many ties, a live window packed into one bin (empty bins),
with the default and with other `bins`. Mistakes diagnosed: no floor for empty bins (inf or
nan), bins of equal width in place of the reference's quantiles, bins cut at the live
window's quantiles (which `psi(live, reference)` also does), the KL divergence in one
direction only, `np.histogram` on the reference's edges (it drops the live values outside
them), `bins` edges in place of `bins + 1`, and a `bins` argument ignored.

`histogram_quantile(q, buckets)` is graded on Prometheus histograms, cumulative (upper bound,
count) pairs ending with +inf, against `labkit.monitor.histogram_quantile` (Prometheus's
rule: linear interpolation inside the first bucket whose count reaches q·total, the first
bucket starting at 0, a rank in the +inf bucket giving the largest finite bound, nan for an
empty histogram). Mistakes diagnosed: the bucket's upper bound returned, +inf returned, the
first bucket interpolated from nothing, counts taken as per-bucket (summed again, or the
bucket's share read from the cumulative count), and the bucket found off by one (a strict
`>`, or the next bucket). Exposed as `EXERCISES`, which `labkit.exercises` merges.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labkit import monitor
from labkit.exercises.core import Exercise, call, scalar

# ---- psi -----------------------------------------------------------------------------------


def _psi(ref: np.ndarray, live: np.ndarray, bins: int = 10, *, mistake: str = "") -> float:
    """Reference (mistake=''): labkit.monitor.psi's number. The mistakes replay wrong answers."""
    if mistake == "ignores bins":
        bins = 10
    source = live if mistake == "live bins" else ref
    if mistake == "equal width":
        cuts = np.linspace(source.min(), source.max(), bins + 1)
    else:
        cuts = np.quantile(source, np.linspace(0, 1, bins if mistake == "edges" else bins + 1))
    edges = np.unique(cuts)

    def shares(v: np.ndarray) -> np.ndarray:
        if mistake == "histogram":  # [e0, e1), ..., [e_k-1, e_k]: values outside are dropped
            return np.histogram(v, edges)[0] / len(v)
        idx = np.searchsorted(edges, v, side="left") + (v >= edges[0])
        return np.bincount(idx, minlength=len(edges) + 2) / len(v)

    p, q = np.maximum(shares(ref), monitor.EPS), np.maximum(shares(live), monitor.EPS)
    if mistake == "kl live":
        return float(np.sum(q * np.log(q / p)))
    if mistake == "kl reference":
        return float(np.sum(p * np.log(p / q)))
    return float(np.sum((q - p) * np.log(q / p)))


def _psi_cases() -> list[tuple[np.ndarray, np.ndarray, int | None, str]]:
    """(reference, live, bins or None for the default, description) on fixed seeds."""
    rng = np.random.default_rng(12)
    normal = rng.normal(size=1000)
    pixels = np.where(rng.random(600) < 0.4, 0, rng.integers(1, 17, 600)).astype(float)
    dim = np.where(rng.random(250) < 0.4, 0, rng.integers(1, 17, 250))
    border = np.where(rng.random(300) < 0.8, 0, rng.integers(1, 17, 300)).astype(float)
    return [
        (normal, normal.copy(), None, "two identical windows of 1000 values"),
        (normal, rng.normal(size=300), None, "1000 values against 300 from the same normal"),
        (normal, rng.normal(0.5, 1, 300), None, "a live window shifted by half a std"),
        (normal, rng.normal(0, 2.5, 300), None,
         "a live window 2.5× wider, many values beyond the reference's range"),
        (np.zeros(500), border, None,
         "a constant reference (all 0, like a border pixel) against a live window 20 % inked"),
        (pixels, np.rint(dim * 0.6), 5,
         "integer pixels 0..16 with many 0s, the live ones dimmer, bins=5"),
        (normal, rng.uniform(-0.05, 0.05, 200), None,
         "a live window packed into one bin, the others empty"),
        (normal, rng.normal(0.3, 1, 400), 4, "a live window shifted by 0.3 std, bins=4"),
    ]  # fmt: skip


_PSI_MISTAKES = (  # checked in this order: the first that replays every case gives the hint
    ("live bins", "cut the bins at the reference's quantiles, not the live window's (psi(live, "
                  "reference) does this too): the reference is the fixed yardstick every live "
                  "window is measured against"),
    ("equal width", "cut the bins at the reference's quantiles, np.quantile(reference, "
                    "np.linspace(0, 1, bins + 1)), not at equal widths between its min and max: "
                    "quantile bins each hold about 1/bins of the reference"),
    ("kl live", "that is KL(live‖reference), Σ q·ln(q/p): one direction only. PSI adds both, "
                "Σ (q − p)·ln(q/p)"),
    ("kl reference", "that is KL(reference‖live), Σ p·ln(p/q): one direction only. PSI adds "
                     "both, Σ (q − p)·ln(q/p)"),
    ("histogram", "np.histogram with the reference's edges drops every live value outside them: "
                  "a live window that moved beyond the reference's range looks stable. Give "
                  "values below the reference's min and above its max bins of their own"),
    ("edges", "bins bins need bins + 1 edges: np.linspace(0, 1, bins + 1)"),
    ("ignores bins", "use the `bins` argument: the checker calls psi(reference, live, 5) too"),
)  # fmt: skip
_EMPTY_BIN = (
    "an empty bin makes ln(q/p) infinite (or 0·ln 0 nan): lift every share to at least "
    "labkit.monitor.EPS = 1e-4 first, np.maximum(shares, EPS)"
)


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _replay(fn: Any, *args: Any, **kwargs: Any) -> float:
    """A replayed mistake's number, nan where the mistake itself fails (np.histogram with one
    edge, a division by 0)."""
    try:
        return float(fn(*args, **kwargs))
    except (ValueError, ZeroDivisionError, IndexError, StopIteration):
        return math.nan


def _check_psi(fn: Any) -> str | None:
    cases = _psi_cases()
    outs = []
    for ref, live, bins, on in cases:
        args = (ref.copy(), live.copy()) + (() if bins is None else (bins,))
        out = call(fn, *args, on=on)
        value = scalar(out)
        if value is None:
            return f"return one number, the PSI; got {out!r} for {on}"
        outs.append(value)
    wanted = [_psi(ref, live, bins or 10) for ref, live, bins, _ in cases]
    if all(_close(o, w) for o, w in zip(outs, wanted, strict=True)):
        return None
    if not all(math.isfinite(o) for o in outs):
        return _EMPTY_BIN
    with np.errstate(divide="ignore", invalid="ignore"):
        for mistake, hint in _PSI_MISTAKES:
            replayed = [_replay(_psi, r, lv, b or 10, mistake=mistake) for r, lv, b, _ in cases]
            if all(_close(o, r) for o, r in zip(outs, replayed, strict=True)):
                return hint
    for out, want, (*_, on) in zip(outs, wanted, cases, strict=True):
        if not _close(out, want):
            return f"for {on} the PSI is {want:.6g}; you returned {out:.6g}"
    return None


# ---- histogram_quantile --------------------------------------------------------------------

Buckets = list[tuple[float, float]]


def _quantile(q: float, buckets: Buckets, *, mistake: str = "") -> float:
    """Reference (mistake=''): labkit.monitor.histogram_quantile, written out so that the
    mistakes can replay wrong answers (a test holds the two together)."""
    bounds = [le for le, _ in buckets]
    counts = [c for _, c in buckets]
    if mistake == "cumsum":  # the counts taken as per bucket, and accumulated again
        counts = list(np.cumsum(counts))
    total = counts[-1]
    if total <= 0:
        return math.nan
    rank = q * total
    reached = [c > rank if mistake == "strict" else c >= rank for c in counts]
    # a strict search finds nothing for q = 1: say it falls back to the +inf bucket
    b = reached.index(True) + (mistake == "next") if any(reached) else len(counts) - 1
    if math.isinf(bounds[b]):
        return math.inf if mistake == "inf" else bounds[-2]
    if mistake == "upper" or (mistake == "first upper" and b == 0):
        return bounds[b]
    start, below = (0.0, 0.0) if b == 0 else (bounds[b - 1], counts[b - 1])
    end, upto = bounds[b], counts[b]
    if mistake == "cumulative share":  # the bucket's count read as its cumulative count
        return start + (end - start) * (rank - below) / upto
    if upto == below:  # q = 0 with an empty first bucket: 0/0, NaN in Prometheus
        return math.nan
    return start + (end - start) * (rank - below) / (upto - below)


_LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, math.inf]  # seconds, as served


def _quantile_cases() -> list[tuple[float, Buckets, str]]:
    """(q, buckets, description): latency histograms in seconds, as /metrics gives them."""
    served = list(zip(_LATENCY, [3.0, 20, 90, 160, 190, 197, 199, 200, 200], strict=True))
    slow = list(zip(_LATENCY, [0.0, 0, 10, 60, 150, 180, 190, 195, 200], strict=True))
    flat = [(1.0, 10.0), (2.0, 50.0), (5.0, 50.0), (10.0, 80.0), (math.inf, 80.0)]
    return [
        (0.5, served, "the median of 200 requests"),
        (0.9, served, "p90 of 200 requests"),
        (0.99, served, "p99 of 200 requests"),
        (0.01, served, "p1 of 200 requests (a rank in the first bucket)"),
        (0.99, slow, "p99 of 200 requests, 5 of them slower than the last finite bound"),
        (0.625, flat, "a rank of 50 equal to a bucket's count, an empty bucket after it"),
        (1.0, flat, "q = 1 of 80 requests"),
        (0.5, [(0.1, 4.0), (math.inf, 4.0)], "the median of 4 requests in one bucket"),
    ]


_QUANTILE_MISTAKES = (  # checked in this order: the first that replays every case gives the hint
    ("upper", "that is the upper bound of the bucket the rank falls in; interpolate inside it: "
              "start + (end − start)·(rank − below)/(count in bucket), as Prometheus does"),
    ("first upper", "a rank in the first bucket: interpolate from 0 (the first bucket starts "
                    "at 0, as in Prometheus) up to its upper bound"),
    ("inf", "a rank in the +inf bucket has no upper bound to interpolate to: return the "
            "largest finite bound, as Prometheus does"),
    ("cumsum", "the counts are already cumulative (requests that took ≤ le): do not add them "
               "up again"),
    ("cumulative share", "the bucket holds (its count − the previous count) requests: the "
                         "counts are cumulative, so divide by the difference"),
    ("strict", "take the first bucket whose count reaches the rank, count ≥ rank: a rank equal "
               "to a count lies at that bucket's upper bound, not in a later bucket"),
    ("next", "you interpolated in the bucket after the one the rank falls in: off by one"),
)  # fmt: skip
_QUANTILE_WHY = {
    ZeroDivisionError: "a histogram that counted nothing has no quantile: return nan",
    StopIteration: "no bucket reached the rank? Take the first with count ≥ rank: the +inf "
                   "bucket's count is the total, so one always does",
}  # fmt: skip


def _check_quantile(fn: Any) -> str | None:
    cases = _quantile_cases()
    outs = []
    for q, buckets, on in cases:
        out = call(fn, q, list(buckets), on=on, why=_QUANTILE_WHY)
        value = scalar(out)
        if value is None:
            return f"return one number, the estimated quantile; got {out!r} for {on}"
        outs.append(value)
    wanted = [_quantile(q, b) for q, b, _ in cases]
    if not all(_close(o, w) for o, w in zip(outs, wanted, strict=True)):
        for mistake, hint in _QUANTILE_MISTAKES:
            replayed = [_replay(_quantile, q, b, mistake=mistake) for q, b, _ in cases]
            if all(_close(o, r) for o, r in zip(outs, replayed, strict=True)):
                return hint
        for out, want, (_, _, on) in zip(outs, wanted, cases, strict=True):
            if not _close(out, want):
                return f"for {on} the estimate is {want:.6g}; you returned {out:.6g}"
    empty = "an empty histogram (0 requests)"
    out = call(fn, 0.99, [(0.1, 0.0), (1.0, 0.0), (math.inf, 0.0)], on=empty, why=_QUANTILE_WHY)
    value = scalar(out)
    if value is None or not math.isnan(value):
        return f"for {empty} return nan (float('nan')): there is no quantile; got {out!r}"
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "psi",
            "Write `psi(reference, live, bins=10)`: the population stability index of one "
            "feature, for two 1-D arrays of its values. Cut bins at the reference's quantiles "
            "(edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))); put a "
            "value v in bin np.searchsorted(edges, v) + (v >= edges[0]), which gives values "
            "below the reference's min, equal to it, and above its max bins of their own; "
            "take each window's share of values per bin (p: reference, q: live), lift every "
            "share to at least labkit.monitor.EPS, and return Σ (q − p)·ln(q/p). The result "
            "equals labkit.monitor.psi.",
            _check_psi,
            f"passed on {len(_psi_cases())} pairs of windows (identical, the same "
            "distribution, shifted, wider, a constant reference, tied integer pixels, empty "
            "bins): the same numbers as labkit.monitor.psi",
        ),
        Exercise(
            "histogram_quantile",
            "Write `histogram_quantile(q, buckets)`: `buckets` is a Prometheus histogram, a "
            "list of (le, count) pairs sorted by le and ending with (inf, total), where count "
            "is the number of requests that took ≤ le (cumulative). Return the q-quantile as "
            "Prometheus estimates it: rank = q·total; find the first bucket whose count "
            "reaches the rank and interpolate linearly between its lower bound (the previous "
            "le; 0 for the first bucket) and its le by where the rank falls among the "
            "requests it holds. A rank in the +inf bucket gives the largest finite le; a "
            "histogram with no requests gives nan.",
            _check_quantile,
            f"passed on {len(_quantile_cases()) + 1} histogram reads (median to p99, a rank in "
            "the first bucket, in the +inf one, on a bucket's count, an empty histogram): "
            "the estimates of labkit.monitor.histogram_quantile and Prometheus",
        ),
    )
}
