"""The course's one noise rule for a verdict between two measured numbers.

One run's validation accuracy p on n examples moves by its sampling error √(p(1−p)/n) from
split to split, and by the spread over seeds from draw to draw; one run's *spread* is the
larger of the two. Independent variances add, so a difference of two numbers with spreads
σa and σb has σ = √(σa² + σb²), and ±2σ holds about 95 % of the differences between two
equally good settings. Two numbers differ beyond the noise only when |difference| > 2σ
(for two single runs with the same spread σ0 that is 2·√2·σ0); inside it, a tie. A 1σ rule
would call about a third of the differences between equally good settings a win.
"""

from __future__ import annotations

import math
from typing import Literal

BAND = 2.0  # a difference is beyond the noise only when |d| > BAND · √(σa² + σb²)
TWO_RUNS = BAND * math.sqrt(2)  # the band for two single runs of the same spread, in spreads

Verdict = Literal["higher", "lower", "tie"]


def sampling_error(p: float, n: int) -> float:
    """The sampling error of an accuracy p measured on n examples: √(p(1−p)/n); nan when p
    is not a number (e.g. a run that diverged)."""
    if not math.isfinite(p):
        return math.nan
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def spread(seed_std: float, p: float, n: int) -> float:
    """One run's spread: the larger of the std over seeds and the sampling error of an
    accuracy p on n examples (a std from few seeds can come out below the sampling error)."""
    return max(seed_std, sampling_error(p, n))


def difference_band(spread_a: float, spread_b: float | None = None) -> float:
    """The half-width of the band for a difference a − b: 2·√(σa² + σb²). With one spread
    (two single runs alike), 2·√2 × it."""
    if spread_b is None:
        return TWO_RUNS * spread_a
    return BAND * math.hypot(spread_a, spread_b)


def verdict(diff: float, band: float) -> Verdict:
    """'tie' when |diff| ≤ band (a difference exactly at the band is still a tie), else
    'higher' or 'lower' by the sign of diff. `band` is a difference's band
    (`difference_band`), not one run's spread. A band that is nan (noise unknown, e.g. a
    spread from fewer than two seeds) shows no difference: a tie. A diff that is nan (a run
    diverged) has no verdict here: it raises ValueError; the caller decides what a diverged
    run means."""
    if math.isnan(diff):
        raise ValueError("no verdict for a difference that is nan (did a run diverge?)")
    if math.isnan(band) or abs(diff) <= band:
        return "tie"
    return "higher" if diff > 0 else "lower"
