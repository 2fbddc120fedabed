"""Latency measurement: percentiles in order, threads pinned and restored, sizes counted."""

import time

import pytest
import torch

import labkit
from labkit import bench
from labkit.validate import ConfigError


def test_latency_reports_ordered_percentiles_of_what_it_timed():
    result = bench.latency(lambda x: time.sleep(0.002), torch.zeros(8, 3), warmup=1, repeats=20)
    assert result.batch == 8 and result.repeats == 20
    assert 2 <= result.p50_ms <= result.p90_ms <= result.p99_ms
    assert result.rows_per_s == pytest.approx(8 / (result.p50_ms / 1000))


def test_compare_latency_times_every_predictor_on_the_same_batch_and_tells_them_apart():
    seen = []
    fast = lambda x: seen.append(len(x))  # noqa: E731
    slow = lambda x: time.sleep(0.003)  # noqa: E731
    result = bench.compare_latency({"fast": fast, "slow": slow}, torch.zeros(4, 2), warmup=1,
                                   repeats=20, rounds=4)  # fmt: skip
    assert set(result) == {"fast", "slow"} and set(seen) == {4}
    assert result["slow"].p50_ms > 10 * result["fast"].p50_ms


def test_threads_are_pinned_inside_and_restored_after():
    before = torch.get_num_threads()
    with bench.threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(labkit.ConfigError, match="threads"), bench.threads(0):
        pass


def test_sizes_count_what_is_stored(tmp_path):
    model = labkit.MLP(hidden=(100,))
    assert bench.state_dict_bytes(model) > 4 * labkit.parameter_count(model)
    (tmp_path / "m.onnx").write_bytes(b"x" * 10)
    assert bench.file_bytes(tmp_path / "m.onnx") == 10
    (tmp_path / "m.onnx.data").write_bytes(b"x" * 5)  # external weights count too
    assert bench.file_bytes(tmp_path / "m.onnx") == 15
    predict = bench.torch_predictor(model)
    assert not model.training and predict(torch.zeros(2, 64)).shape == (2, 10)


def test_the_comparison_table_puts_the_baseline_first_with_ratios_to_it():
    slow = bench.Candidate(lambda x: time.sleep(0.002 * len(x) / 4), 0.9, 1000, 4000)
    fast = bench.Candidate(lambda x: time.sleep(0.001 * len(x) / 4), 0.85, 250, 1000)
    batches = {1: torch.zeros(1, 2), 4: torch.zeros(4, 2)}
    table = bench.comparison_table({"dense": slow, "small": fast}, batches, repeats=20)
    assert list(table.index) == ["dense", "small"]
    assert table.loc["dense", "speedup_b4"] == 1 and table.loc["small", "smaller"] == 4
    assert 1.5 < table.loc["small", "speedup_b4"] < 2.5
    assert table.loc["small", "p50_b4_ms"] <= table.loc["small", "p99_b4_ms"]
    assert table.loc["small", "accuracy"] == 0.85


def test_speedup_rounds_sees_which_is_slower():
    def slow(x):
        time.sleep(0.002)

    def fast(x):
        time.sleep(0.0005)

    ratios = bench.speedup_rounds(slow, {"fast": fast, "same": slow}, [0], rounds=3, repeats=4)
    assert len(ratios["fast"]) == 3 and min(ratios["fast"]) > 1.5
    assert bench.speed_verdict(ratios["fast"]) == "faster"
    with pytest.raises(ConfigError, match="rounds must be an integer >= 2"):
        bench.speedup_rounds(slow, {"fast": fast}, [0], rounds=1)


def test_speed_verdicts_call_small_or_disputed_differences_ties():
    assert bench.speed_verdict([1.8, 1.9, 2.0]) == "faster"
    assert bench.speed_verdict([0.2, 0.25]) == "slower"
    assert bench.speed_verdict([0.9, 1.2]) == "tie"  # the rounds disagree
    assert bench.speed_verdict([1.05, 1.08]) == "tie"  # every round faster, but under 10 %
    assert bench.ratio_phrase(0.5) == "2.00× slower" and bench.ratio_phrase(3) == "3.00× faster"
