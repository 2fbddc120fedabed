"""labkit.figures.distillation: notebook 09's verdicts follow labkit.noise for means over
seeds, its sentences read the numbers they are given, and its figures draw them."""

import math

import numpy as np
import pandas as pd
import pytest

from labkit import noise
from labkit.figures.distillation import (
    HINTON,
    accuracy_verdict,
    compare_means,
    comparison_line,
    faq_report,
    gap_closed,
    hinton_report,
    mean_spread,
    row_sentence,
    size_words,
    soft_targets_figure,
    speed_words,
    sweep_figure,
    sweep_report,
    tried_figure,
)


def test_a_means_spread_is_the_larger_of_the_seeds_std_over_root_k_and_the_sampling_error():
    mean, std, spread = mean_spread([0.90, 0.95, 1.00], 10_000)
    assert mean == pytest.approx(0.95) and std == pytest.approx(0.05)
    assert spread == pytest.approx(0.05 / math.sqrt(3))  # the seeds dominate on many digits
    mean, std, spread = mean_spread([0.97, 0.97, 0.97], 360)
    assert std == 0 and spread == pytest.approx(noise.sampling_error(0.97, 360))  # the split
    assert mean_spread([0.9], 100)[1] == 0
    with pytest.raises(ValueError, match="at least one value"):
        mean_spread([], 100)


def test_compare_means_calls_a_difference_inside_the_band_a_tie():
    diff, band, said = compare_means([0.98, 0.98], [0.97, 0.97], 360)
    expected = noise.difference_band(
        noise.sampling_error(0.98, 360), noise.sampling_error(0.97, 360)
    )
    assert diff == pytest.approx(0.01) and band == pytest.approx(expected) and said == "tie"
    assert compare_means([0.95] * 3, [0.75] * 3, 360)[2] == "higher"
    assert compare_means([0.75] * 3, [0.95] * 3, 360)[2] == "lower"
    line = comparison_line("distilled", [0.98, 0.98], "alone", [0.97, 0.97], 360, "test")
    assert line.startswith("distilled 0.980 ± 0.000 vs alone 0.970 ± 0.000 (mean ± std over 2")
    assert "360 test digits): +1.0 points (noise ±" in line and line.endswith(": a tie")


def test_gap_closed_is_the_share_of_the_teachers_lead_won_back():
    assert gap_closed(0.99, 0.97, 0.98) == pytest.approx(0.5)
    assert gap_closed(-67, -146, -74) == pytest.approx(72 / 79)  # errors, negated
    assert math.isnan(gap_closed(0.9, 0.95, 0.96))  # the teacher has no lead


def test_hinton_report_sets_ours_beside_theirs_with_the_noise_of_each():
    text = hinton_report(0.99, [0.97, 0.975], [0.98, 0.985], 360)
    assert f"{HINTON['teacher']:>9d}{HINTON['alone']:>9d}{HINTON['distilled']:>11d}   91%" in text
    assert "3.6      9.9        6.3   57%" in text  # errors of 360, gap closed
    assert "their gain +0.72 points on 10,000 digits (noise ±0.29): higher" in text
    assert "ours: +1.0 points (noise ±" in text and text.endswith("a tie")
    assert "no gap" in hinton_report(0.5, [0.9, 0.9], [0.8, 0.8], 360)


def test_the_figures_draw_what_they_are_given():
    probs = {t: np.full((2, 10), 0.1) for t in (1.0, 4.0, 20.0)}
    fig = soft_targets_figure(np.zeros((2, 8, 8)), probs, [3, 5])
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "label 3"
    assert len(fig.axes[1].patches) == 30 and fig.legends  # 10 classes × 3 temperatures
    cells = {(1.0, 0.5): [0.95, 0.96], (4.0, 0.5): [0.97, 0.96], (4.0, 0.9): [0.96, 0.97]}
    fig = sweep_figure(cells, [0.96, 0.965], 180)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "student alone (α = 0)", "α = 0.5", "α = 0.9"]  # fmt: skip
    assert ax.get_xscale() == "log"
    fig = tried_figure(np.full((3, 10), 0.1), [1, 2, 3], 4.0, {"alone": 0.96, "T=4": 0.97},
                       {"alone": 0.01, "T=4": 0.01})  # fmt: skip
    left, right = fig.axes
    assert len(left.patches) == 30 and len(right.patches) == 2 and "T = 4" in left.get_title()


def test_sweep_report_counts_verdicts_and_says_when_it_cannot_choose():
    cells = {(1.0, 0.5): [0.95, 0.96], (4.0, 0.9): [0.96, 0.97]}
    text = sweep_report(cells, [0.96, 0.965], 180)
    assert text.count("vs alone") == 2
    assert "0 cell(s) higher, 2 tie(s), 0 lower, beyond the noise of 180 digits" in text
    assert text.endswith("ties with 1 of the other 1 cells: this sweep cannot choose among them")
    clear = sweep_report({(4.0, 0.9): [0.99] * 3, (1.0, 0.5): [0.5] * 3}, [0.5] * 3, 10_000)
    assert "1 cell(s) higher, 1 tie(s)" in clear and clear.endswith("it leads beyond the noise")


def test_words_for_ratios():
    assert speed_words(2.13) == "2.1× faster" and speed_words(0.5) == "2.0× slower"
    assert speed_words(1.05) == "the same speed (1.05×)" and speed_words(0.91).startswith(
        "the same"
    )
    assert size_words(3.96) == "4.0× smaller" and size_words(0.999) == "the same size (1.00×)"
    assert size_words(0.5) == "2.0× larger"


TABLE = pd.DataFrame.from_dict(
    {
        "dense": {"accuracy": 0.97, "params": 1000, "bytes": 4000, "p50_b1_ms": 0.2,
                  "p50_b64_ms": 2.0},
        "sparse": {"accuracy": 0.97, "params": 100, "bytes": 1200, "p50_b1_ms": 0.2,
                   "p50_b64_ms": 2.0},
        "half": {"accuracy": 0.96, "params": 250, "bytes": 1100, "p50_b1_ms": 0.1,
                 "p50_b64_ms": 0.5},
        "ort": {"accuracy": 0.97, "params": 1000, "bytes": 4000, "p50_b1_ms": 0.15,
                "p50_b64_ms": 1.6},
        "int8": {"accuracy": 0.97, "params": 1000, "bytes": 1000, "p50_b1_ms": 0.05,
                 "p50_b64_ms": 0.8},
        "alone": {"accuracy": 0.90, "params": 80, "bytes": 320, "p50_b1_ms": 0.05,
                  "p50_b64_ms": 0.2},
        "distilled": {"accuracy": 0.93, "params": 80, "bytes": 320, "p50_b1_ms": 0.05,
                      "p50_b64_ms": 0.2},
    },
    orient="index",
)  # fmt: skip
for b in (1, 64):
    TABLE[f"speedup_b{b}"] = TABLE.iloc[0][f"p50_b{b}_ms"] / TABLE[f"p50_b{b}_ms"]
TABLE["smaller"] = TABLE.iloc[0].bytes / TABLE.bytes


def test_accuracy_verdict_uses_the_sampling_errors_of_two_single_models():
    diff, band, said = accuracy_verdict(0.93, 0.90, 360)
    assert band == pytest.approx(
        2 * math.hypot(noise.sampling_error(0.93, 360), noise.sampling_error(0.9, 360))
    )
    assert diff == pytest.approx(0.03) and said == "tie"
    assert accuracy_verdict(0.90, 0.97, 360)[2] == "lower"


def test_faq_report_answers_from_the_table():
    text = faq_report(TABLE, 360, sparse="sparse", half="half", ort="ort", int8="int8",
                      alone="alone", distilled="distilled")  # fmt: skip
    assert row_sentence(TABLE, "half", 360) in text
    assert text.startswith("sparse: 3.3× smaller, the same speed (1.00×) at batch 1")
    assert "sparse: 10.0× fewer non-zero parameters, the same speed (1.00×) at batch 64" in text
    assert "int8 vs ort (the same runtime: what int8 bought): 4.0× smaller, 3.0× faster at " \
           "batch 1, 2.0× faster at batch 64; accuracy +0.0 points" in text  # fmt: skip
    assert "against alone (the same network: what the teacher bought) +3.0 points" in text
    # alone and distilled lose accuracy beyond the noise: the summary leaves them out
    assert "the rows at no accuracy cost beyond the noise of 360 test digits (4 of 6)" in text
    assert "smallest on disk: int8, 4.0× smaller" in text
    assert "fastest at batch 1: int8, 4.0× faster" in text
    assert "fastest at batch 64: half, 4.0× faster" in text
    worse = TABLE.assign(accuracy=[0.99] + [0.5] * 6)
    assert faq_report(worse, 360, sparse="sparse", half="half", ort="ort", int8="int8",
                      alone="alone", distilled="distilled").endswith(
        "every row lost accuracy beyond the noise against dense")  # fmt: skip
