"""labkit.figures.quantization: the controls read back their settings, the figure draws its
three panels, and the verdicts are computed from the numbers: ties inside the noise, missed
targets said so."""

import time

import pandas as pd
import pytest
import torch

from labkit import ConfigError
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


def test_speed_verdicts_call_small_or_disputed_differences_ties():
    assert figs.speed_verdict([1.8, 1.9, 2.0]) == "faster"
    assert figs.speed_verdict([0.2, 0.25]) == "slower"
    assert figs.speed_verdict([0.9, 1.2]) == "tie"  # the rounds disagree
    assert figs.speed_verdict([1.01, 1.03]) == "tie"  # every round faster, but under 5 %
    assert "2.00× faster" in figs.speed_sentence("a", "b", [1.9, 2.0, 2.1], 64)
    assert "5.00× slower" in figs.speed_sentence("a", "b", [0.2, 0.2, 0.2], 64)
    assert "a tie" in figs.speed_sentence("a", "b", [0.95, 1.1], 64)
    assert figs.ratio_phrase(0.5) == "2.00× slower"


def test_speedup_rounds_time_both_in_every_round():
    def slow(x):
        time.sleep(0.002)

    def fast(x):
        time.sleep(0.0005)

    ratios = figs.speedup_rounds(slow, fast, [0.0], rounds=3, repeats=3)
    assert len(ratios) == 3 and all(r > 1.5 for r in ratios)


def _table():
    return pd.DataFrame(
        {"accuracy": [0.972, 0.969, 0.95], "bytes": [4_000_000, 1_000_000, 2_000_000],
         "speedup_b64": [1.0, 1.8, 1.2], "smaller": [1.0, 4.0, 2.0],
         "p50_b64_ms": [2.0, 1.1, 1.7], "p99_b64_ms": [2.5, 1.3, 3.0]},
        index=["fp32", "good", "bad"],
    )  # fmt: skip


def test_targets_report_says_which_targets_were_met():
    good, bad = figs.targets_report(_table(), ["good", "bad"])
    assert "1.80× the speed of fp32" in good and "MISSED" not in good
    assert "0.3 points lost" in good
    assert bad.count("MISSED") == 3 and "2.2 points lost" in bad


def test_accuracy_sentences_show_the_noise():
    assert "a tie" in figs.accuracy_sentence("int8", 0.969, "fp32", 0.972, 360)
    assert "higher" in figs.accuracy_sentence("QAT", 0.95, "PTQ", 0.75, 180)
    lines = figs.ptq_qat_report({8: (0.97, 0.97), 2: (0.75, 0.95)}, 180)
    assert lines[0].startswith(" 2 bits") and "(noise ±" in lines[0]


def test_table_figure_has_a_bar_per_row():
    fig = figs.table_figure(_table())
    assert len(fig.axes[0].patches) == 3 and len(fig.axes[1].patches) == 3
