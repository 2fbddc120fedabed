"""labkit.figures.quantization: the controls read back their settings, the figure draws its
three panels, and the verdicts are computed from the numbers: ties inside the noise, missed
targets said so."""

import pandas as pd
import pytest
import torch

from labkit import ConfigError
from labkit.compress import quantize as q
from labkit.figures import quantization as figs


def _weights():
    g = torch.Generator().manual_seed(0)
    return torch.randn(32, 16, generator=g) * torch.linspace(0.05, 2, 32)[:, None]


def test_controls_start_at_the_parameters_and_refuse_bad_ones():
    ui = figs.QuantControls(bits=4, symmetric=False, per_channel=True)
    assert ui.values() == {"bits": 4, "symmetric": False, "per_channel": True}
    ui.bits.value, ui.symmetric.value = 2, True
    assert ui.values() == {"bits": 2, "symmetric": True, "per_channel": True}
    assert (ui.bits.min, ui.bits.max) == (2, 16)
    with pytest.raises(ConfigError, match="bits"):
        figs.QuantControls(bits=1)
    with pytest.raises(ConfigError, match="per_channel"):
        figs.QuantControls(per_channel="yes")


def test_error_by_bits_halves_per_bit_and_per_channel_helps_small_rows():
    w = _weights()
    errors = figs.error_by_bits(w, bits=(4, 5, 6))
    for s in (True, False):
        for c in (False, True):
            assert 1.6 < errors[(4, s, c)] / errors[(5, s, c)] < 2.5
    assert errors[(4, True, True)] < errors[(4, True, False)]
    # the smallest row uses few per-tensor codes but the whole per-channel grid
    tensor = figs.codes_used(w, 0, bits=4, symmetric=True, per_channel=False)
    channel = figs.codes_used(w, 0, bits=4, symmetric=True, per_channel=True)
    assert tensor < channel <= 15


def test_weights_figure_draws_three_panels_for_any_setting():
    for bits, symmetric, per_channel in ((2, True, False), (8, False, True), (16, True, True)):
        fig = figs.weights_figure(_weights(), bits=bits, symmetric=symmetric,
                                  per_channel=per_channel)  # fmt: skip
        assert len(fig.axes) == 3 and "codes per tensor" in fig.axes[0].get_title()
        assert len(fig.axes[2].lines) == 5  # four settings and the marker


def test_speed_sentences_use_the_course_margin_and_show_the_rounds():
    assert not hasattr(figs, "TIE_MARGIN") and not hasattr(figs, "speedup_rounds")
    assert "2.00× faster" in figs.speed_sentence("a", "b", [1.9, 2.0, 2.1], 64)
    slow = figs.speed_sentence("a", "b", [0.2, 0.25, 0.25], 64)
    assert "4.00× slower" in slow and "(4.00–5.00× over 3 rounds)" in slow
    # 7 % faster in every round: a tie under bench.SAME_SPEED (10 %), which the old 5 % did not call
    tie = figs.speed_sentence("a", "b", [1.06, 1.07, 1.08], 64)
    assert "a tie" in tie and "less than 10%" in tie
    assert "a tie" in figs.speed_sentence("a", "b", [0.95, 1.3], 64)  # the rounds disagree


def test_batch_verdicts_need_rounds_that_do_not_overlap():
    assert figs.batch_verdict([2.3, 2.4, 2.5], [1.8, 1.9, 1.9]) == "higher"
    assert figs.batch_verdict([1.8, 1.9, 1.9], [2.3, 2.4, 2.5]) == "lower"
    assert figs.batch_verdict([1.9, 2.4, 2.5], [1.8, 2.0, 2.1]) == "tie"  # overlapping rounds
    assert figs.batch_verdict([1.95, 1.96], [1.90, 1.91]) == "tie"  # apart, but under 10 %


def test_a_symmetric_step_on_one_sided_values_is_not_always_twice():
    assert figs.one_sided_step_ratio(8) == pytest.approx(255 / 127)
    assert figs.one_sided_step_ratio(2) == 3.0
    relu = torch.rand(1000) * 5
    for bits in (2, 4, 8):
        s_sym = q.qparams(relu, bits=bits, symmetric=True)[0]
        s_asym = q.qparams(relu, bits=bits, symmetric=False)[0]
        assert float(s_sym / s_asym) == pytest.approx(figs.one_sided_step_ratio(bits), rel=1e-5)


def test_dot_product_instructions_are_read_from_the_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu sse2 avx2 avx512f avx512_vnni\n")
    assert figs.int8_dot_product(info) == "AVX-512 VNNI"
    info.write_text("processor : 0\nflags : fpu sse2 avx2\n")
    assert figs.int8_dot_product(info) is None
    info.write_text("processor : 0\nFeatures : fp asimd asimddp\n")
    assert figs.int8_dot_product(info) == "Arm dot product"
    assert figs.int8_dot_product(tmp_path / "missing") == "unknown"


def _table():
    return pd.DataFrame(
        {"accuracy": [0.972, 0.969, 0.95], "bytes": [4_000_000, 1_000_000, 2_000_000],
         "speedup_b64": [1.0, 1.8, 1.2], "smaller": [1.0, 4.0, 2.0],
         "p50_b64_ms": [2.0, 1.1, 1.7], "p99_b64_ms": [2.5, 1.3, 3.0]},
        index=["fp32", "good", "bad"],
    )  # fmt: skip


SPEEDS = {"good": [1.7, 1.8, 1.9], "bad": [1.1, 1.2, 1.3]}


def test_targets_report_says_which_targets_were_met_from_the_rounds():
    good, bad = figs.targets_report(_table(), ["good", "bad"], SPEEDS, width=1024)
    # the point value is the rounds' median, inside their range (not the table's ratio)
    assert "1.80× the speed of fp32" in good and "1.70–1.90× over 3 rounds" in good
    assert "MISSED" not in good and "0.3 points lost" in good
    assert bad.count("MISSED") == 3 and "2.2 points lost" in bad


def test_targets_are_for_the_wide_model_only():
    lines = figs.targets_report(_table(), ["good", "bad"], SPEEDS, width=32)
    assert not any("MISSED" in line or ": met" in line for line in lines)
    assert "1.20× the speed of fp32" in lines[1]  # the numbers are still given
    assert "they do not apply here" in lines[-1] and "1024 hidden units" in lines[-1]


def test_accuracy_sentences_show_the_noise():
    assert "a tie" in figs.accuracy_sentence("int8", 0.969, "fp32", 0.972, 360)
    assert "higher" in figs.accuracy_sentence("QAT", 0.95, "PTQ", 0.75, 180)
    assert figs.accuracy_verdict(0.95, 0.75, 180) == "higher"
    assert figs.accuracy_verdict(0.944, 0.917, 180) == "tie"  # seed 6's 2-bit result


def test_ptq_qat_report_compares_each_with_fp32_and_with_each_other():
    lines = figs.ptq_qat_report({8: (0.97, 0.97), 2: (0.75, 0.95)}, 0.967, 180)
    assert lines[0].startswith(" 2 bits: rounding only 0.750")
    assert "vs fp32: lower" in lines[0] and "rounding only 0.750: +20.0 points" in lines[0]
    assert lines[0].endswith("QAT vs fp32: a tie") and "(noise ±" in lines[0]
    assert "vs fp32: a tie" in lines[1]


def test_table_figure_has_a_bar_per_row():
    fig = figs.table_figure(_table())
    assert len(fig.axes[0].patches) == 3 and len(fig.axes[1].patches) == 3


def test_batch_sentences_call_ties_and_give_reasons_as_reasons():
    tie = figs.batch_sentence([1.9, 2.4], [1.8, 2.0], 4.5)
    assert "a tie between the batch sizes" in tie and "reason" not in tie
    better = figs.batch_sentence([2.3, 2.4, 2.5], [1.8, 1.9, 1.9], 4.51)
    assert better.startswith("Dynamic int8 fared better against fp32 at batch 1 (2.40×)")
    assert "A likely reason, not measured here" in better and "4.51 MB" in better
    assert "fared worse" in figs.batch_sentence([1.0, 1.1, 1.1], [1.8, 1.9, 2.0], 4.5)


def test_calibration_report_shows_what_a_rare_outlier_does_to_min_max():
    g = torch.Generator().manual_seed(0)
    rows = torch.randn(500, 8, generator=g).clamp(-3, 3)
    rows[:, 5] = -0.1
    rows[7, 5] = 25.0  # a column blank in all but one row: one far outlier
    scale, zero_point = q.qparams(rows, bits=8, symmetric=False)
    lines = figs.calibration_report(rows, scale, zero_point)
    assert (
        lines[0].startswith("calibrated input range -3.00 … 25.00") and "0 at code 27" in lines[0]
    )
    assert "in all but 1 of the 500 calibration rows" in lines[1]
    # everything but the outlier lies within ±3 σ, and gets about a fifth of the codes
    assert lines[2].startswith("99.98% of the calibration values") and "55 of the 256" in lines[2]
    # without the outlier the bulk gets every code, and no column is blamed
    lines = figs.calibration_report(rows[:, :5], *q.qparams(rows[:, :5], bits=8, symmetric=False))
    assert len(lines) == 2 and "256 of the 256" in lines[1]
