"""Notebook 10's controls, figure and computed verdicts (labkit.figures.export)."""

import os

import pandas as pd
import pytest

from labkit.figures import export as figs
from labkit.validate import ConfigError


def test_the_checks_name_the_parameter_and_its_limits():
    assert figs.check_batch(2) == 2 and figs.check_batch(360) == 360
    with pytest.raises(ConfigError, match="batch must be an integer >= 2"):
        figs.check_batch(1)
    with pytest.raises(ConfigError, match="batch must be at most 360, the test rows"):
        figs.check_batch(361)
    assert figs.check_threads(1) == 1
    with pytest.raises(ConfigError, match=r"threads must be at most \d+, the CPU cores here"):
        figs.check_threads((os.cpu_count() or 1) + 1)
    with pytest.raises(ConfigError, match="threads must be an integer >= 1"):
        figs.check_threads(0)


def test_controls_start_at_the_parameters_and_read_back():
    ui = figs.ExportControls(optimization="basic", threads=1, batch=100)
    assert ui.values() == {"optimization": "basic", "threads": 1, "batch": 100}
    assert 100 in ui.batch.options and 64 in ui.batch.options  # the parameter is a stop
    ui.optimization.value, ui.batch.value = "disable", 256
    assert ui.values() == {"optimization": "disable", "threads": 1, "batch": 256}
    assert "application/vnd.jupyter.widget-view+json" in ui._repr_mimebundle_()
    with pytest.raises(ConfigError, match="optimization must be one of"):
        figs.ExportControls(optimization="max")


@pytest.mark.parametrize(
    ("ratios", "verdict", "words"),
    [
        ([2.0, 2.2, 2.1], "faster", "ORT is 2.10× faster than eager at batch 1 (2.00–2.20×"),
        # slower: the range reads in the direction of the words
        ([0.5, 0.6, 0.55], "slower", "ORT is 1.82× slower than eager at batch 1 (1.67–2.00×"),
        (
            [0.9, 1.3, 1.1],
            "tie",
            "ORT vs eager at batch 1: 1.10× (0.90–1.30× over 3 rounds): a tie",
        ),
        ([1.02, 1.03, 1.04], "tie", "differ by less than 10%"),
    ],
)
def test_a_ratio_is_a_difference_only_when_every_round_agrees(ratios, verdict, words):
    assert figs.speed_verdict(ratios) == verdict
    assert words in figs.speed_sentence("ORT", "eager", ratios, 1)


def test_target_line_says_met_or_missed():
    assert figs.target_line("x", 2.5, 2.0) == "x: 2.50× (target ≥ 2×: met)"
    missed = figs.target_line("x", 1.9, 2.0, [1.8, 2.1])
    assert missed == "x: 1.90×, 1.80–2.10× over 2 rounds (target ≥ 2×: MISSED at these settings)"


def test_ops_table_counts_each_operator():
    text = figs.ops_table(
        {"disable": {"Gemm": 2, "Relu": 1}, "extended": {"FusedGemm": 1, "Gemm": 1}}
    )
    assert text.splitlines() == [
        "disable    3 nodes: Gemm ×2, Relu",
        "extended   2 nodes: FusedGemm, Gemm",
    ]


def _table():
    rows = {
        ("small", "PyTorch eager"): (40_000, 0.030, 0.060),
        ("small", "ORT fp32"): (45_000, 0.012, 0.030),
        ("small", "LiteRT fp32"): (40_100, 0.005, 0.029),
        ("wide", "PyTorch eager"): (4_500_000, 0.150, 2.0),
        ("wide", "ORT fp32"): (4_500_100, 0.100, 1.6),
        ("wide", "LiteRT fp32"): (4_499_000, 0.095, 1.55),
    }
    table = pd.DataFrame(
        [{"bytes": b, "p50_b1_ms": p1, "p50_b64_ms": p64} for b, p1, p64 in rows.values()],
        index=pd.MultiIndex.from_tuples(rows, names=["model", "runtime"]),
    )
    for b in (1, 64):
        base = table.groupby(level=0)[f"p50_b{b}_ms"].transform("first")
        table[f"speedup_b{b}"] = base / table[f"p50_b{b}_ms"]
    return table


def test_latency_figure_has_a_panel_per_batch_and_a_bar_per_runtime():
    fig = figs.latency_figure(_table(), [1, 64])
    axes = fig.axes
    assert len(axes) == 2 and [ax.get_title() for ax in axes] == ["batch 1", "batch 64"]
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels[0] == "small · PyTorch eager" and labels[-1] == "wide · LiteRT fp32"
    assert len(axes[1].patches) == 6 and axes[0].get_xscale() == "log"
    assert any("(2.50×)" in t.get_text() for t in axes[0].texts)  # 0.030 / 0.012


def test_relative_compares_any_two_runtimes_round_by_round():
    ratios = {"ORT fp32": [2.0, 2.5], "ORT int8": [4.0, 2.5]}  # eager / runtime, per round
    assert figs.relative(ratios, "ORT int8", "ORT fp32") == [2.0, 1.0]  # fp32 / int8
    assert figs.relative(ratios, "ORT fp32", "PyTorch eager") == [2.0, 2.5]  # the baseline: 1


def test_int8_report_follows_the_verdicts_of_the_rounds():
    pays = figs.int8_report({"course MLP": [0.9, 1.05, 0.95], "wide MLP": [1.8, 1.9, 1.7]}, 64)
    assert pays.startswith("int8 over fp32 at batch 64: 0.95× on the course MLP (tie), 1.80× on")
    assert pays.endswith("not where it is the fixed cost of a call")
    # one round inside the margin: a tie, so no claim that int8 pays on the wide MLP
    unsure = figs.int8_report({"course MLP": [0.9, 1.0, 0.95], "wide MLP": [1.8, 1.05, 1.7]}, 64)
    assert "(tie)" in unsure and unsure.endswith("int8 did not pay more on the wider model")
    both = figs.int8_report({"course MLP": [1.3, 1.4, 1.3], "wide MLP": [1.8, 1.9, 1.7]}, 8)
    assert both.endswith("int8 paid on both models at these settings")


def test_choice_report_picks_from_the_rounds():
    # LiteRT 2.4× faster than ONNX Runtime at batch 1 in every round, a tie at batch 64
    speed = {1: {"ORT fp32": [2.5, 2.4, 2.6], "LiteRT fp32": [6.0, 5.8, 6.2]},
             64: {"ORT fp32": [2.0, 2.0, 2.0], "LiteRT fp32": [2.1, 1.9, 2.3]}}  # fmt: skip
    text = figs.choice_report(_table(), speed, "small")
    assert "the LiteRT file is 40.1 kB, the ONNX file 45.0 kB" in text
    assert "LiteRT is 2.40× faster than ONNX Runtime at batch 1 (2.38–2.42× over 3 rounds)" in text
    assert "LiteRT vs ONNX Runtime at batch 64: 1.05× (0.95–1.15× over 3 rounds): a tie" in text
    assert text.endswith(
        "small, the faster runtime for raw speed on this CPU: LiteRT at batch 1, either (a tie) "
        "at batch 64"
    )
    slower = {1: {"ORT fp32": [2.5, 2.4, 2.6], "LiteRT fp32": [1.0, 1.0, 1.0]}}
    assert figs.choice_report(_table(), slower, "small").endswith("ONNX Runtime at batch 1")
    assert not hasattr(figs, "comparison")  # no single-measurement verdicts left
