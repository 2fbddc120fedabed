"""labkit.figures.batch_timing: the timing harness keeps each job's fastest time after the
warm-up, a real training step is timed beside a matrix product, and the summary says where
batching stops paying, from the numbers."""

import time

import pytest
import torch

from labkit.figures import batch_timing as figs


def test_timing_summary_finds_where_batching_stops_paying():
    busy = {1: 1e-4, 8: 1.1e-4, 64: 2e-4, 512: 1.6e-3}  # per sample: 8× cheaper, then ~flat
    text = figs.timing_summary(busy)
    assert "a step took 16.0× as long, so a sample cost 32× less" in text
    assert "time per sample at B = 512 / at B = 64: 1.00" in text and "stops paying" in text
    overhead = {1: 1e-4, 8: 1e-4, 64: 1e-4}
    assert "fell at least 2× at every step" in figs.timing_summary(overhead)
    gflops = {b: 1.0 for b in busy}
    assert len(figs.timing_table(busy, gflops, 1e9).splitlines()) == 5
    assert len(figs.timing_figure(busy).axes[0].lines) == 3


def test_fastest_times_discards_the_warm_up_and_keeps_each_jobs_fastest():
    calls = {"a": 0, "b": 0}

    def job(name, seconds):
        def run():
            calls[name] += 1
            t = time.perf_counter() + seconds * (10 if calls[name] == 1 else 1)  # slow warm-up
            while time.perf_counter() < t:
                pass

        return run

    fastest, timed = figs.fastest_times({"a": job("a", 1e-4), "b": job("b", 2e-3)}, range(6),
                                        warmup=1)  # fmt: skip
    assert timed == 5 and calls == {"a": 6, "b": 6}
    assert 1e-4 <= fastest["a"] < 1e-3 <= 2e-3 <= fastest["b"] < 1e-2  # warm-up not counted


def test_time_train_steps_times_every_batch_and_the_matrix_product():
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def step(x, t):
        seen.append(len(x))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), t).backward()
        opt.step()

    inputs = {b: (torch.randn(b, 4), torch.randint(0, 3, (b,))) for b in (1, 8)}
    timed = figs.time_train_steps(step, inputs, torch.device("cpu"), warmup=1, rounds=2)
    assert set(timed.step_time) == {1, 8} and timed.rounds == 2
    assert seen.count(1) == seen.count(8) == 3  # every round times every batch once
    assert all(t > 0 for t in timed.step_time.values()) and timed.matmul_rate > 1e6


def test_timing_report_and_metrics_follow_the_timings():
    timed = figs.StepTimes({1: 1e-4, 512: 1e-3}, matmul_rate=1e11, rounds=12)
    gflops = {1: 0.4, 512: 20.0}
    lines = figs.timing_report(timed, 40_000, gflops, torch.device("cpu")).splitlines()
    assert lines[0].startswith("device cpu, torch threads ") and "12 timed rounds" in lines[0]
    assert lines[0].endswith("a 1024 × 1024 matrix product runs at 100 GFLOP/s")
    assert lines[1] == ("40,000 FLOPs per sample: 0.40 µs at the matrix product's rate, 0.4 % of "
                        "the measured B = 1 step")  # fmt: skip
    assert "a sample cost 51× less" in lines[-1] or "a sample cost 51× less" in lines[-2]
    m = figs.timing_metrics(timed, gflops)
    assert m["matmul_gflops"] == 100.0 and m["gflops_b512"] == 20.0
    assert m["step_seconds_b1"] == 1e-4 and m["per_sample_speedup_b512"] == pytest.approx(51.2)


def test_random_batches_and_the_flops_of_a_linear_stack():
    batches = figs.random_batches((1, 8), 64, 10, torch.device("cpu"))
    assert [(x.shape, t.shape) for x, t in batches.values()] == [
        ((1, 64), (1,)), ((8, 64), (8,)),
    ]  # fmt: skip
    assert all(
        t.dtype == torch.int64 and t.min() >= 0 and t.max() < 10 for _, t in batches.values()
    )
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    # forward 64·128 + 128·10 multiply-adds, their weight gradients, and the second layer's
    # input gradient (the first layer's is not needed): 2 FLOPs each
    assert figs.linear_flops_per_sample(model) == 2 * (2 * (64 * 128 + 128 * 10) + 128 * 10)
