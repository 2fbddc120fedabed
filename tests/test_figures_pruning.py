"""Notebook 07's verdicts, reports and figures: accuracies are compared with their noise,
latency ratios with the machine's own, and the sentences say what the numbers say."""

import pandas as pd
import pytest
import torch

import labkit
from labkit.compress import prune
from labkit.figures import pruning as fp


def test_percent_shows_a_decimal_only_where_it_needs_one():
    assert fp.percent(0.9) == "90 %" and fp.percent(0.0) == "0 %"
    assert fp.percent(0.6333) == "63.3 %" and fp.percent(0.95) == "95 %"


def test_levels_are_sorted_and_hold_the_extra_ones_once():
    assert fp.levels((0.5, 0.9), 0.9, 0.25) == [0.25, 0.5, 0.9]


def test_accuracy_changes_carry_the_noise_of_both_numbers():
    # 348 and 350 right of 360: sampling errors 0.0094 and 0.0087, band 2·√(sum of squares)
    assert fp.band(348 / 360, 350 / 360, 360) == pytest.approx(0.0256, abs=1e-4)
    assert fp.change(348 / 360, 350 / 360, 360) == "-0.006 (noise ±0.026: a tie)"
    assert fp.verdict(0.80, 0.95, 180) == "lower" and fp.verdict(0.95, 0.80, 180) == "higher"


def test_curve_report_names_the_last_tie_and_the_first_loss():
    curve = {0.5: 0.96, 0.9: 0.95, 0.95: 0.45}
    line = fp.curve_report({"global": curve}, 0.96, 180)
    assert line.startswith("global: tied with dense up to 90 % of weights removed")
    assert "lower from 95 % (0.450, -0.510 (noise ±0.080: lower))" in line
    assert "lower than dense at every level" in fp.curve_report({"x": {0.9: 0.5}}, 0.96, 180)


def test_han_report_sets_the_measured_tie_beside_the_paper():
    text = fp.han_report({0.8: 0.97, 0.95: 0.95}, 0.96, 180, "3 steps")
    assert text.startswith("Han et al. (2015) pruned AlexNet 9× and VGG-16 13×")
    assert "up to 95 % of the weights went (20× fewer)" in text and "with 3 steps" in text
    assert "no sparsity tried stayed tied" in fp.han_report({0.95: 0.4}, 0.96, 180, "1 step")


def _wide():
    torch.manual_seed(0)
    model = labkit.MLP(in_features=8, hidden=(64, 64), classes=3)
    with torch.no_grad():
        model.net[0].weight.mul_(5)  # large input weights: global ranking spares them
    return model


def test_scope_table_and_report_show_where_global_pruning_puts_the_zeros():
    reports = {}
    for how in ("layer", "global"):
        m = _wide()
        prune.magnitude_prune_(m, 0.5, scope=how)
        reports[how] = prune.sparsity_report(m)
    table = fp.scope_table(reports).splitlines()
    assert table[0].split() == ["layer", "weights", "per", "layer", "global"]
    assert table[1].split()[:3] == ["net.0", "512", "50"]
    text = fp.scope_report(reports)
    assert text.startswith("per layer: every layer loses 50 %; global: the same 50 % overall")
    assert "net.0 (512) only" in text


def test_csr_break_even_is_where_sparse_and_dense_bytes_meet():
    rows, cols = 1024, 1024
    s = fp.csr_break_even(rows, cols)
    assert 12 * (1 - s) * rows * cols + 8 * (rows + 1) == pytest.approx(4 * rows * cols)
    assert s == pytest.approx(2 / 3, abs=1e-3)  # the row pointers add a little


def test_sizes_report_gives_megabytes_and_ratios_to_the_first():
    lines = fp.sizes_report({"dense": 4_000_000, "masks": 8_000_000}).splitlines()
    assert lines == ["dense    4.000 MB   1.00× dense", "masks    8.000 MB   2.00× dense"]


def test_speed_verdicts_need_more_than_the_machine_noise():
    assert fp.speed_verdict(1.2, 1.0) == "faster" and fp.speed_verdict(0.85, 1.0) == "slower"
    assert fp.speed_verdict(1.05, 1.0) == "the same speed"
    # the dense model timed against itself differed by 30 %: only beyond ±60 % counts
    assert (
        fp.speed_band(1.3) == pytest.approx(0.6) and fp.speed_verdict(1.5, 1.3) == "the same speed"
    )
    assert fp.speed_verdict(1.7, 0.7) == "faster"


def test_speed_report_reads_every_row_after_the_control():
    table = pd.DataFrame(
        {"speedup_b1": [1.0, 1.02, 0.3, 2.0], "speedup_b64": [1.0, 0.99, 0.75, 3.5]},
        index=["dense", "again", "masks", "half"],
    )
    lines = fp.speed_report(table, "again", [1, 64]).splitlines()
    assert lines[0].startswith("the dense model timed against itself: 1.02× at batch 1")
    assert lines[1] == "masks: 0.30× at batch 1 (slower), 0.75× at batch 64 (slower)"
    assert lines[2] == "half: 2.00× at batch 1 (faster), 3.50× at batch 64 (faster)"


def test_target_lines_say_met_or_missed():
    assert fp.target_line("speedup", 1.49, 1.5) == "speedup: 1.49 (target ≥ 1.5: MISSED)"
    assert fp.target_line("points lost", 0.56, 1.0, higher=False).endswith("(target ≤ 1: met)")


def test_weights_kept_and_removed_count_non_zeros_against_the_dense_model():
    dense = _wide()
    small = prune.prune_units(dense, 0.5)
    kept = fp.kept_per_layer(small, dense)
    assert list(kept) == ["net.0", "net.2", "net.4"]
    assert kept["net.0"] == pytest.approx(0.5) and kept["net.2"] == pytest.approx(0.25)
    masked = _wide()
    prune.magnitude_prune_(masked, 0.75, scope="layer")
    assert fp.weights_removed(masked, dense) == pytest.approx(0.75, abs=1e-3)
    assert fp.kept_per_layer(masked, dense)["net.2"] == pytest.approx(0.25)


def test_figures_draw_what_they_are_given():
    curves = {"global": {0.5: 0.96, 0.9: 0.94}, "structured, fine-tuned": {0.73: 0.96}}
    fig = fp.curves_figure(curves, 0.96, 180)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "global" in labels and "structured, fine-tuned" in labels
    point = ax.get_lines()[labels.index("structured, fine-tuned")]
    assert list(point.get_xdata()) == [73.0]  # one model: a marker, no line from dense
    fig = fp.try_figure({"net.0": 0.3, "net.2": 0.05}, curves, 0.96, 180, 0.9, 0.9, 0.95, "t")
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 2
    reports = {"layer": prune.sparsity_report(_wide()), "global": prune.sparsity_report(_wide())}
    legend = [t.get_text() for t in fp.layers_figure(reports).axes[0].get_legend().get_texts()]
    assert legend == ["per layer", "global"]
    fig = fp.weights_figure(torch.randn(32, 32), 0.5, 0.4, "layer")
    assert "|w| ≤ 0.5000 cut" in fig.axes[0].get_title()


def test_scope_report_says_when_there_is_nothing_to_compare():
    reports = {}
    for how in ("layer", "global"):
        m = _wide()
        prune.magnitude_prune_(m, 0.0, scope=how)
        reports[how] = prune.sparsity_report(m)
    text = fp.scope_report(reports)
    assert "neither scope removes a weight" in text and "only 0 %" not in text
    same = pd.DataFrame({"layer": ["a", "b", "overall"], "weights": [10, 10, 20],
                         "zeros": [5, 5, 10], "sparsity": [0.5, 0.5, 0.5]})  # fmt: skip
    assert "every layer lost the same share" in fp.scope_report({"layer": same, "global": same})


def test_speed_margin_is_the_course_one():
    from labkit import bench

    assert not hasattr(fp, "SPEED_FLOOR") and fp.speed_band(1.0) == bench.SAME_SPEED
    line = fp.rounds_sentence("half", [1.84, 1.92, 1.96])
    assert line == "half: 1.92× as fast (1.84–1.96× over 3 rounds): faster"
    assert fp.rounds_sentence("half", [1.02, 1.05, 1.05]).endswith(": the same speed")
    assert fp.rounds_sentence("half", [0.9, 1.3]).endswith(": the same speed")  # disputed


def test_targets_are_judged_only_for_the_wide_model():
    assert fp.target_applies(1024) and fp.target_applies(2048) and not fp.target_applies(256)
    line = fp.target_line("speedup", 1.2, 1.5, judged=False)
    assert line.startswith("speedup: 1.20") and "MISSED" not in line and "met" not in line
    assert "1024-wide MLP, so it does not apply here" in line
