"""labkit.noise: the one rule by which notebooks 02, 04 and 05 call a difference real or a tie."""

import math

import numpy as np
import pytest

from labkit import noise


def test_sampling_error_of_an_accuracy():
    assert noise.sampling_error(0.93, 360) == pytest.approx(math.sqrt(0.93 * 0.07 / 360))
    assert round(noise.sampling_error(0.93, 360), 3) == 0.013
    assert noise.sampling_error(1.0, 50) == 0 == noise.sampling_error(0.0, 50)  # no spread
    assert noise.sampling_error(0.5, 100) > noise.sampling_error(0.9, 100)  # widest at p = 0.5
    assert noise.sampling_error(0.9, 400) == pytest.approx(noise.sampling_error(0.9, 100) / 2)
    assert math.isnan(noise.sampling_error(math.nan, 180))  # a run that diverged


def test_one_runs_spread_is_the_larger_of_seed_std_and_sampling_error():
    assert noise.spread(0.042, 0.93, 180) == 0.042  # the seeds vary more
    assert noise.spread(0.001, 0.93, 180) == noise.sampling_error(0.93, 180)  # a lucky low std
    assert noise.spread(0.0, 0.5, 100) == pytest.approx(0.05)


def test_the_band_for_a_difference_adds_variances():
    assert noise.difference_band(0.03, 0.04) == pytest.approx(0.1)  # 2·√(0.03² + 0.04²)
    assert noise.difference_band(0.042) == pytest.approx(0.119, abs=5e-4)  # 2·√2 × 0.042
    assert noise.difference_band(0.042) == pytest.approx(noise.difference_band(0.042, 0.042))
    assert noise.difference_band(0.01, 0.0) == pytest.approx(0.02)  # one exact number
    assert noise.difference_band(1.0) == 2 * math.sqrt(2) == noise.TWO_RUNS  # exactly


def test_verdict_calls_a_difference_inside_its_band_a_tie():
    assert noise.verdict(0.017, 0.119) == "tie"
    assert noise.verdict(-0.017, 0.119) == "tie"
    assert noise.verdict(0.12, 0.119) == "higher"
    assert noise.verdict(-0.12, 0.119) == "lower"
    assert noise.verdict(0.1, 0.1) == "tie"  # exactly at the band: still a tie
    assert noise.verdict(0.0, 0.0) == "tie"
    assert noise.verdict(math.inf, 0.05) == "higher"
    assert noise.verdict(0.3, math.nan) == "tie"  # unknown noise shows no difference
    with pytest.raises(ValueError, match="nan"):
        noise.verdict(math.nan, 0.1)


def test_equally_good_settings_are_called_different_about_5_percent_of_the_time():
    # two single runs of the same setting, each with spread 1: the 2·√2 band calls ~4.6 % of
    # their differences real; the 1σ rule (|d| > √2) would call ~32 %
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 1.0, (2, 20000))
    band = noise.difference_band(1.0)
    wins = np.mean([noise.verdict(x - y, band) != "tie" for x, y in zip(a, b, strict=True)])
    assert 0.035 < wins < 0.06
    sampled = noise.difference_band(noise.spread(0.0, 0.9, 360))  # accuracies on 360 images
    rng_acc = rng.binomial(360, 0.9, (2, 20000)) / 360
    wins = np.mean([noise.verdict(x - y, sampled) != "tie" for x, y in rng_acc.T])
    assert wins < 0.07
