"""Notebook 05's seed variance: one run's spread is the larger of the seed std and the
sampling error, the band for two runs 2·√2 × it, and the reports say how rough that is."""

import math

import pandas as pd
import pytest
from scipy.stats import chi2

from labkit.figures import seed_variance as fv


def test_the_noise_band_is_the_course_rule():
    spread, band = fv.noise_band(0.02, 0.9, 360)
    assert spread == 0.02 and band == pytest.approx(2 * math.sqrt(2) * 0.02)
    spread, band = fv.noise_band(0.001, 0.9, 360)  # seeds close by luck: the sampling error
    assert spread == pytest.approx(math.sqrt(0.9 * 0.1 / 360))


def test_the_std_interval_is_chi_square():
    low, high = fv.std_interval(0.01, 3)
    assert low == pytest.approx(math.sqrt(2 / chi2.ppf(0.975, 2)))
    assert low < 1 < high and high > 4  # from 3 seeds the true std may be 4× the sample's


def test_seed_report_prints_each_seed_and_how_rough_the_std_is():
    lines = fv.seed_report([0.95, 0.96, 0.97], [0.94, 0.95], 360).splitlines()
    assert (
        lines[0] == "test accuracy per seed:       0.950, 0.960, 0.970  → mean ± std 0.960 ± 0.010"
    )
    assert lines[1] == "validation accuracy per seed: 0.940, 0.950  → mean ± std 0.945 ± 0.007"
    assert lines[2] == ("sampling error of one test accuracy (360 images): ± 0.010; spread of "
                        "one run's test accuracy, the larger of the two: 0.010")  # fmt: skip
    assert lines[3].startswith("a std from 3 seeds is rough: the true one may be 0.52 to 6.28")
    assert fv.seed_report([0.9], [], 360) == "fewer than two seeds finished: no spread to measure"


def test_band_report_names_the_settings_one_run_cannot_rank():
    keys = ("run_id", "optimizer", "lr", "batch_size", "val_accuracy")
    candidates = pd.DataFrame([dict(zip(keys, r, strict=True)) for r in [
        ("a", "adam", 0.01, 16, 0.95), ("b", "sgd", 0.4, 16, 0.94), ("c", "sgd", 0.02, 16, 0.80),
        ("d", "sgd", 0.001, 16, math.nan)]])  # fmt: skip
    best, runner_up = candidates.iloc[0], candidates.iloc[1]
    lines = fv.band_report(best, runner_up, candidates, [0.95, 0.96, 0.94], 360).splitlines()
    assert lines[0].startswith("spread of one run's validation accuracy: std over 3 seeds 0.010")
    assert lines[1] == "rough band for two independent single runs: 2·√2·0.011 = 0.032"
    assert "covers about 82 % of the differences, not 95 %" in lines[2]
    assert lines[3].startswith("1 of the 3 other settings have a validation accuracy within 0.032")
    assert lines[4] == "  sgd, lr=0.4, batch size 16: 0.940"  # the nan ties nothing
    assert "gap +0.010 (4 of 360 images)" in lines[5] and "a tie" in lines[5]
