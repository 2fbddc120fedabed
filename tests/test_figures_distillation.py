"""labkit.figures.distillation: notebook 09's verdicts follow labkit.noise for means over
seeds, its sentences read the numbers they are given, and its figures draw them."""

import math

import numpy as np
import pandas as pd
import pytest

from labkit import bench, noise
from labkit.figures import distillation as fd
from labkit.figures.distillation import (
    HINTON,
    accuracy_verdict,
    best_rows,
    compare_means,
    comparison_line,
    failure_sentence,
    faq_report,
    faq_table,
    gap_closed,
    hinton_report,
    mean_spread,
    origin_rounds,
    params_words,
    rounds_words,
    row_sentence,
    size_words,
    soft_targets_figure,
    sweep_figure,
    sweep_report,
    teacher_line,
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


def test_the_speed_margin_is_the_courses_one():
    assert not hasattr(fd, "speed_words") and fd.SAME_SPEED is bench.SAME_SPEED


def test_words_for_ratios_show_the_rounds_and_call_ties_ties():
    assert rounds_words([2.0, 2.2, 2.1]) == "2.10× faster (2.00–2.20× over 3 rounds)"
    # slower: the range reads in the same direction as the words
    assert rounds_words([0.8, 0.9, 0.85]) == "1.18× slower (1.11–1.25× over 3 rounds)"
    # one round past the margin and one inside it: a tie, whatever the median says
    assert rounds_words([1.3, 1.05, 1.2]).startswith("the same speed (1.20×, 1.05–1.30×")
    assert size_words(3.96) == "4.0× smaller" and size_words(0.999) == "the same size (1.00×)"
    assert size_words(0.5) == "2.0× larger"
    assert params_words(100, 1000) == "10.0× fewer non-zero parameters"
    assert params_words(85_002, 38_282) == "2.2× MORE parameters (85,002 vs 38,282)"


def test_teacher_line_says_whether_the_teacher_is_stronger_from_the_verdict():
    assert "the stronger model" in teacher_line(0.99, 0.90, 180, 40)
    ahead = teacher_line(0.983, 0.972, 180, 40)  # +1.1 points on 180 digits: inside the noise
    assert "stronger" not in ahead and "within the noise of 180 digits" in ahead
    weak = teacher_line(0.644, 0.947, 180, 1)  # the reviewer's teacher_epochs=1 run
    assert weak.startswith("the teacher after 1 epoch: validation accuracy 0.644")
    assert "WORSE than the student" in weak and "stronger" not in weak
    assert "NOT ahead" in teacher_line(0.96, 0.97, 180, 5)


def test_failure_sentence_follows_the_verdicts():
    lower, tie = (-0.09, 0.08, "lower"), (-0.022, 0.03, "tie")
    both = failure_sentence({"tiny": lower, "weak": lower, "weak_teacher": "lower"})
    assert both.endswith("both failures show beyond the noise")
    # seed 3 in the review: the weak teacher's harm was a tie
    one = failure_sentence({"tiny": lower, "weak": tie, "weak_teacher": "lower"})
    assert "from it made no difference beyond the noise (a tie) (-2.2 points" in one
    assert one.endswith("only the tiny student shows beyond the noise") and "both" not in one
    none = failure_sentence({"tiny": tie, "weak": tie, "weak_teacher": "tie"})
    assert "no better than the student alone (a tie)" in none and "neither failure" in none


TABLE = pd.DataFrame.from_dict(
    {
        "wide": {"accuracy": 0.97, "params": 1000, "bytes": 4000, "p50_b1_ms": 0.2,
                 "p50_b64_ms": 2.0},
        "sparse": {"accuracy": 0.97, "params": 100, "bytes": 4000, "p50_b1_ms": 0.2,
                   "p50_b64_ms": 2.0},
        "csr": {"accuracy": 0.97, "params": 100, "bytes": 1200, "p50_b1_ms": 0.25,
                "p50_b64_ms": 1.0},
        "half": {"accuracy": 0.96, "params": 250, "bytes": 1100, "p50_b1_ms": 0.1,
                 "p50_b64_ms": 0.5},
        "ort": {"accuracy": 0.97, "params": 1000, "bytes": 4000, "p50_b1_ms": 0.15,
                "p50_b64_ms": 1.6},
        "int8": {"accuracy": 0.97, "params": 1000, "bytes": 1000, "p50_b1_ms": 0.05,
                 "p50_b64_ms": 0.8},
        "teacher": {"accuracy": 0.99, "params": 40, "bytes": 160, "p50_b1_ms": 0.15,
                    "p50_b64_ms": 1.5},
        "teacher ort": {"accuracy": 0.99, "params": 40, "bytes": 170, "p50_b1_ms": 0.03,
                        "p50_b64_ms": 0.5},
        "cnn dyn": {"accuracy": 0.99, "params": 40, "bytes": 50, "p50_b1_ms": 0.08,
                    "p50_b64_ms": 3.0},
        "cnn static": {"accuracy": 0.99, "params": 40, "bytes": 55, "p50_b1_ms": 0.03,
                       "p50_b64_ms": 0.5},
        "alone": {"accuracy": 0.97, "params": 85, "bytes": 340, "p50_b1_ms": 0.05,
                  "p50_b64_ms": 0.2},
        "distilled": {"accuracy": 0.98, "params": 85, "bytes": 340, "p50_b1_ms": 0.05,
                      "p50_b64_ms": 0.2},
    },
    orient="index",
)  # fmt: skip
ORIGINS = {"wide": None, "sparse": "wide", "csr": "wide", "half": "wide", "ort": "wide",
           "int8": "ort", "teacher": None, "teacher ort": "teacher", "cnn dyn": "teacher ort",
           "cnn static": "teacher ort", "alone": "teacher", "distilled": "teacher"}  # fmt: skip
NAMES = dict(sparse="sparse", csr="csr", half="half", int8="int8",
             cnn_int8=["cnn dyn", "cnn static"], teacher="teacher", teacher_ort="teacher ort",
             alone="alone", distilled="distilled")  # fmt: skip


def _rounds(table, wobble=(1.0, 1.02, 0.98)):
    """speedup_rounds against the first row, as if every round measured the table's p50s
    (times a common wobble per round, which cancels in the ratios)."""
    base = table.index[0]
    return {
        b: {name: [table.loc[base, f"p50_b{b}_ms"] / (table.loc[name, f"p50_b{b}_ms"] * w)
                   for w in wobble] for name in table.index[1:]}
        for b in (1, 64)
    }  # fmt: skip


def test_origin_rounds_compares_each_row_with_the_model_it_was_made_from():
    speed = origin_rounds(_rounds(TABLE), "wide", ORIGINS)
    assert set(speed[1]) == {k for k, v in ORIGINS.items() if v}  # origins-only rows left out
    assert speed[64]["int8"] == pytest.approx([2.0] * 3)  # 1.6 / 0.8, not 2.0 / 0.8
    assert speed[1]["distilled"] == pytest.approx([3.0] * 3)  # its teacher 0.15 / 0.05
    assert speed[64]["sparse"] == pytest.approx([1.0, 1 / 1.02, 1 / 0.98])
    shown = faq_table(TABLE.assign(speedup_b1=1.0, smaller=1.0), ORIGINS)
    assert "speedup_b1" not in shown and list(shown.made_from[:3]) == ["", "wide", "wide"]


def test_best_rows_names_every_row_within_the_margin():
    assert best_rows({"a": 10.2, "b": 10.1, "c": 5.0}) == ["a", "b"]
    assert best_rows({"a": 3.0, "b": 2.0}) == ["a"]


def test_faq_report_answers_from_the_table_against_each_rows_origin():
    speed = origin_rounds(_rounds(TABLE), "wide", ORIGINS)
    text = faq_report(TABLE, speed, 360, origins=ORIGINS, **NAMES)
    assert row_sentence(TABLE, speed, "half", "wide", 360) in text
    assert "  int8 vs ort: 4.0× smaller, 3.00× faster (3.00–3.00× over 3 rounds) at batch 1" in text
    # the distilled student against its teacher, not against the wide MLP
    assert "distilled vs its teacher (teacher, both in PyTorch eager): 2.1× MORE parameters " \
           "(85 vs 40), 2.1× larger, 3.00× faster" in text  # fmt: skip
    assert "distilled vs wide" not in text and "so here distillation did not cut parameters" in text
    assert "distilled vs alone (the same network: the same size (1.00×), the same speed" in text
    # the CSR row and the CNN's int8 rows, with the caveats computed from them
    assert "stored and run as CSR (csr): 3.3× smaller, 1.25× slower" in text
    assert "CSR sparse against the dense model: 1.25× slower" in text
    assert "at batch 64: sparse kernels pay only where a call has enough rows" in text
    assert "cnn dyn: 3.4× smaller, 2.67× slower" in text
    assert "not on the CNN (cnn dyn: 6.00× slower" in text and "only on matmul-bound" in text
    # ties are named, never picked: the two students are the same network
    fastest64 = text.split("the largest speedup against its origin at batch 64: ")[1]
    assert fastest64.startswith("alone (7.50×), distilled (7.50×) (alone and distilled are the "
                                "same network)")  # fmt: skip
    assert "the most bytes saved against its origin: int8 (4.00×)" in text
    # half loses 1 point: a tie on 360 digits, so it is kept (10 of 10)
    assert "(10 of 10)" in text
    # a row that loses accuracy beyond the noise against its origin is not chosen
    worse = TABLE.copy()
    worse.loc["int8", "accuracy"] = 0.80
    text = faq_report(worse, speed, 360, origins=ORIGINS, **NAMES)
    assert "(9 of 10)" in text and "the most bytes saved against its origin: half (3.64×)" in text
    # a distilled student that loses to the same student alone is not chosen either
    hurt = TABLE.copy()
    hurt.loc["distilled", "accuracy"], hurt.loc["teacher", "accuracy"] = 0.85, 0.86
    text = faq_report(hurt, speed, 360, origins=ORIGINS, **NAMES)
    fastest64 = text.split("the largest speedup against its origin at batch 64: ")[1]
    assert "(9 of 10)" in text and fastest64.startswith("alone (7.50×)\n")


def test_faq_report_says_when_int8_pays_on_both_models():
    table = TABLE.copy()
    table.loc["cnn dyn", "p50_b64_ms"] = 0.2
    table.loc["cnn dyn", "p50_b1_ms"] = 0.01
    text = faq_report(table, origin_rounds(_rounds(table), "wide", ORIGINS), 360,
                      origins=ORIGINS, **NAMES)  # fmt: skip
    assert "int8 was faster on both the wide MLP and the CNN here" in text
    assert "only on matmul-bound" not in text


def test_accuracy_verdict_uses_the_sampling_errors_of_two_single_models():
    diff, band, said = accuracy_verdict(0.93, 0.90, 360)
    assert band == pytest.approx(
        2 * math.hypot(noise.sampling_error(0.93, 360), noise.sampling_error(0.9, 360))
    )
    assert diff == pytest.approx(0.03) and said == "tie"
    assert accuracy_verdict(0.90, 0.97, 360)[2] == "lower"
