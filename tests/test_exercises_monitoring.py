"""Notebook 12's exercises: the references pass (and agree with labkit.monitor), placeholders
are "not attempted", and each diagnosed mistake gets its own hint."""

import math

import numpy as np
import pytest
from exercise_checks import assert_wrong, checker

from labkit import monitor
from labkit.exercises import monitoring as ex

check = checker(ex)


# ---- psi -----------------------------------------------------------------------------------


def psi_with(mistake=""):
    """A learner's psi, written out: the reference when mistake is '', else one slip."""

    def psi(reference, live, bins=10):
        if mistake == "ignores bins":
            bins = 10
        source = live if mistake == "live bins" else reference
        if mistake == "equal width":
            edges = np.unique(np.linspace(source.min(), source.max(), bins + 1))
        else:
            n_edges = bins if mistake == "edges" else bins + 1
            edges = np.unique(np.quantile(source, np.linspace(0, 1, n_edges)))

        def shares(v):
            if mistake == "histogram":
                counts, _ = np.histogram(v, bins=edges)
                return counts / len(v)
            idx = np.searchsorted(edges, v) + (v >= edges[0])
            return np.bincount(idx, minlength=len(edges) + 2) / len(v)

        p, q = shares(reference), shares(live)
        if mistake != "no eps":
            p, q = np.maximum(p, monitor.EPS), np.maximum(q, monitor.EPS)
        if mistake == "kl live":
            return np.sum(q * np.log(q / p))
        if mistake == "kl reference":
            return np.sum(p * np.log(p / q))
        return np.sum((q - p) * np.log(q / p))  # a numpy float

    return psi


def psi_looping(reference, live, bins=10):  # plain Python over the bins, a float back
    edges = sorted(set(np.quantile(reference, [i / bins for i in range(bins + 1)]).tolist()))

    def shares(values):
        counts = [0] * (len(edges) + 2)
        for v in values:
            i = sum(e < v for e in edges) + (v >= edges[0])  # searchsorted's 'left'
            counts[i] += 1
        return [max(c / len(values), monitor.EPS) for c in counts]

    p, q = shares(reference), shares(live)
    return sum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True))


@pytest.mark.parametrize("answer", [psi_with(), psi_looping, monitor.psi])
def test_psi_accepts_every_correct_answer(answer):
    result = check("psi", answer)
    assert result.passed and "8 pairs of windows" in result.message, result


def test_the_psi_reference_is_labkits_psi():
    for ref, live, bins, _ in ex._psi_cases():
        assert ex._psi(ref, live, bins or 10) == pytest.approx(
            monitor.psi(ref, live, bins or 10), rel=1e-12, abs=1e-15
        )


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        ("no eps", "an empty bin makes ln(q/p) infinite"),
        ("live bins", "not the live window's (psi(live, reference) does this too)"),
        ("equal width", "not at equal widths between its min and max"),
        ("kl live", "that is KL(live‖reference)"),
        ("kl reference", "that is KL(reference‖live)"),
        ("histogram", "np.histogram with the reference's edges drops every live value"),
        ("edges", "bins bins need bins + 1 edges"),
        ("ignores bins", "use the `bins` argument"),
    ],
)
def test_psi_diagnoses_each_mistake(mistake, hint):
    assert_wrong(check("psi", psi_with(mistake)), hint)


def test_swapped_arguments_get_the_live_bins_hint():
    assert_wrong(check("psi", lambda r, lv, bins=10: psi_with()(lv, r, bins)), "live window's")


def test_psi_reports_a_wrong_number_a_non_number_and_an_error():
    assert_wrong(check("psi", lambda r, lv, bins=10: 2 * psi_with()(r, lv, bins)), "the PSI is")
    assert_wrong(check("psi", lambda r, lv, bins=10: [0.1, 0.2]), "return one number")
    assert_wrong(check("psi", lambda r, lv, bins=10: r[None][1]), "raised IndexError")

    def placeholder(reference, live, bins=10):
        raise NotImplementedError

    assert check("psi", placeholder).status == "not attempted"


# ---- histogram_quantile --------------------------------------------------------------------


def quantile_with(mistake=""):
    """A learner's histogram_quantile: the reference when mistake is '', else one slip."""

    def histogram_quantile(q, buckets):
        bounds = [le for le, _ in buckets]
        counts = (
            list(np.cumsum([c for _, c in buckets]))
            if mistake == "cumsum"
            else [c for _, c in buckets]
        )
        total = counts[-1]
        if total == 0:
            return math.nan
        rank = q * total
        found = (
            i for i, c in enumerate(counts) if (c > rank if "strict" in mistake else c >= rank)
        )
        # "strict, with a default" falls back to the +inf bucket when no count is > the rank
        b = next(found, len(counts) - 1) if mistake == "strict, with a default" else next(found)
        if mistake == "next":
            b += 1
        if bounds[b] == math.inf:
            return math.inf if mistake == "inf" else bounds[-2]
        if mistake == "upper" or (mistake == "first upper" and b == 0):
            return bounds[b]
        start, below = (0, 0) if b == 0 else (bounds[b - 1], counts[b - 1])
        end, upto = bounds[b], counts[b]
        if mistake == "cumulative share":
            return start + (end - start) * (rank - below) / upto
        return start + (end - start) * (rank - below) / (upto - below)

    return histogram_quantile


@pytest.mark.parametrize("answer", [quantile_with(), monitor.histogram_quantile])
def test_histogram_quantile_accepts_every_correct_answer(answer):
    result = check("histogram_quantile", answer)
    assert result.passed and "9 histogram reads" in result.message, result


def test_the_quantile_reference_is_labkits_and_reads_a_served_histogram():
    for q, buckets, _ in ex._quantile_cases():
        assert ex._quantile(q, buckets) == pytest.approx(monitor.histogram_quantile(q, buckets))
    empty_first = [(0.005, 0.0), (0.01, 5.0), (math.inf, 5.0)]  # q = 0 here is 0/0: NaN
    assert math.isnan(ex._quantile(0.0, empty_first))
    assert math.isnan(monitor.histogram_quantile(0.0, empty_first))
    # the same number latency_slo reads from Prometheus text (in ms there)
    lines = [f'labkit_request_seconds_bucket{{le="{le}"}} {c}' for le, c in
             zip(["0.005", "0.01", "0.025", "0.05", "0.1", "+Inf"], [3, 20, 90, 160, 190, 200],
                 strict=True)]  # fmt: skip
    head = "# TYPE labkit_request_seconds histogram"
    tail = ["labkit_request_seconds_count 200", "labkit_request_seconds_sum 9.1", ""]
    text = "\n".join([head, *lines, *tail])
    buckets = [(0.005, 3), (0.01, 20), (0.025, 90), (0.05, 160), (0.1, 190), (math.inf, 200)]
    slo = monitor.latency_slo(text, quantile=0.9, slo_ms=100)
    assert slo.estimate_ms == pytest.approx(1000 * ex._quantile(0.9, buckets))


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        ("upper", "that is the upper bound of the bucket the rank falls in"),
        ("first upper", "a rank in the first bucket: interpolate from 0"),
        ("inf", "a rank in the +inf bucket has no upper bound"),
        ("cumsum", "the counts are already cumulative"),
        ("cumulative share", "divide by the difference"),
        # a strict `>` finds no bucket for q = 1 (rank = total): next() raises
        ("strict", "raised StopIteration (no message) on q = 1 of 80 requests: no bucket "
                   "reached the rank? Take the first with count ≥ rank"),
        ("next", "raised IndexError"),
    ],
)  # fmt: skip
def test_histogram_quantile_diagnoses_each_mistake(mistake, hint):
    assert_wrong(check("histogram_quantile", quantile_with(mistake)), hint)


def test_a_strict_search_that_does_not_raise_gets_its_hint():
    result = check("histogram_quantile", quantile_with("strict, with a default"))
    assert_wrong(result, "take the first bucket whose count reaches the rank, count ≥ rank")


def test_histogram_quantile_wants_nan_for_an_empty_histogram():
    def zero_when_empty(q, buckets):
        return 0.0 if buckets[-1][1] == 0 else monitor.histogram_quantile(q, buckets)

    def dividing(q, buckets):
        total = buckets[-1][1]
        return 1 / total and monitor.histogram_quantile(q, buckets)

    assert_wrong(check("histogram_quantile", zero_when_empty), "return nan (float('nan'))")
    assert_wrong(check("histogram_quantile", dividing), "counted nothing has no quantile")


def test_histogram_quantile_reports_a_wrong_number_a_non_number_and_the_placeholder():
    half = quantile_with()
    assert_wrong(check("histogram_quantile", lambda q, b: half(q, b) / 2), "the estimate is")
    assert_wrong(check("histogram_quantile", lambda q, b: b), "return one number")

    def placeholder(q, buckets):
        raise NotImplementedError

    assert check("histogram_quantile", placeholder).status == "not attempted"


def test_every_mistake_changes_some_answer():
    # Each replayed mistake differs from the reference, or its hint could never be reached.
    with np.errstate(divide="ignore", invalid="ignore"):
        for mistake, _ in ex._PSI_MISTAKES:
            assert any(
                not ex._close(ex._replay(ex._psi, r, lv, b or 10, mistake=mistake),
                              ex._psi(r, lv, b or 10))
                for r, lv, b, _ in ex._psi_cases()
            ), mistake  # fmt: skip
    for mistake, _ in ex._QUANTILE_MISTAKES:
        assert any(
            not ex._close(ex._replay(ex._quantile, q, b, mistake=mistake), ex._quantile(q, b))
            for q, b, _ in ex._quantile_cases()
        ), mistake
