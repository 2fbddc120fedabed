"""Notebook 01 (gradient descent), section 5: what a batch buys within a step.

The notebook times one training step of a small MLP at several batch sizes and counts its
floating-point operations; what is here is the timing harness (each job's fastest time over
rounds taken in a random order, with a large matrix product timed alongside as a rough
ceiling for the hardware) and the table, summary and figure of the results. The summary
sentences are computed from the timings of this run: on a busy machine they say so.
"""

from __future__ import annotations

import functools
import itertools
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit.progress import progress

MATMUL = 1024  # the matrix product timed alongside the steps: MATMUL × MATMUL, 2·MATMUL³ FLOPs


def fastest_times(
    work: Mapping[Any, Callable[[], Any]],
    rounds: Iterable[int],
    *,
    warmup: int = 3,
    at_least: int = 10,
    budget_s: float = 5.0,
    sync: Callable[[], Any] = lambda: None,
    seed: int = 0,
) -> tuple[dict[Any, float], int]:
    """Each job's fastest time in seconds, and the number of timed rounds. Every round times
    each job once, in a fresh random order (a busy moment slows them alike, and no job always
    runs right after the same one); the first `warmup` rounds are discarded, and the rounds
    stop after `at_least` timed ones once `budget_s` seconds have passed. The fastest time is
    the least disturbed: other programs can only slow a job down. `sync` waits for a GPU."""
    order = random.Random(seed)
    times: dict[Any, list[float]] = {name: [] for name in work}
    deadline = time.perf_counter() + budget_s
    for round_ in rounds:
        for name in order.sample(list(work), len(work)):
            sync()
            start = time.perf_counter()
            work[name]()
            sync()
            times[name].append(time.perf_counter() - start)
        if round_ >= warmup + at_least and time.perf_counter() > deadline:
            break
    timed = len(next(iter(times.values()))) - warmup
    return {name: min(t[warmup:]) for name, t in times.items()}, timed


@dataclass(frozen=True)
class StepTimes:
    """What `time_train_steps` measured."""

    step_time: dict[int, float]  # batch size -> the fastest seconds per training step
    matmul_rate: float  # FLOP/s of the MATMUL × MATMUL product, timed in the same rounds
    rounds: int  # how many rounds were timed, after the warm-up


def time_train_steps(
    step: Callable[[torch.Tensor, torch.Tensor], Any],
    inputs: Mapping[int, tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    *,
    warmup: int = 3,
    rounds: int = 50,
    seed: int = 0,
) -> StepTimes:
    """`step(x, t)` timed for each batch size's inputs (size -> (x, t)) with `fastest_times`:
    `warmup` rounds, then up to `rounds` timed ones (fewer once ~5 s have passed), a progress
    bar, the GPU synchronized around each job on CUDA; a MATMUL × MATMUL matrix product is
    timed in the same rounds, for the rate the hardware reaches on one large product."""
    big = torch.randn(MATMUL, MATMUL, device=device)
    work: dict[Any, Callable[[], Any]] = {
        b: functools.partial(step, *xt) for b, xt in inputs.items()
    }
    work["matmul"] = lambda: big @ big
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times, timed = fastest_times(work, progress(range(warmup + rounds), desc="timing"),
                                 warmup=warmup, sync=sync, seed=seed)  # fmt: skip
    matmul_rate = 2 * MATMUL**3 / times.pop("matmul")
    return StepTimes(times, matmul_rate, timed)


def random_batches(
    sizes: Iterable[int], features: int, classes: int, device: torch.device
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Random inputs (b, features) and labels (b,) for each batch size b, drawn in turn from
    torch's default generator: stand-ins for real data, since the time of a step does not
    depend on the values."""
    return {
        b: (torch.randn(b, features, device=device), torch.randint(0, classes, (b,), device=device))
        for b in sizes
    }


def linear_flops_per_sample(model: torch.nn.Module) -> int:
    """Floating-point operations of one training sample through a stack of Linear layers (a
    multiply-add is 2): the forward pass, then the weight gradient of every layer and the input
    gradient of every layer but the first (biases, activations and the loss: negligible)."""
    weights = [m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return 2 * (2 * sum(weights) + sum(weights[1:]))


def timing_report(
    timed: StepTimes, flop_per_sample: int, gflops: Mapping[int, float], device: torch.device
) -> str:
    """The device, threads and rounds with the matrix product's rate; what one sample's FLOPs
    would cost at that rate against the measured B = 1 step; the table; and the summary."""
    step_time, rate = timed.step_time, timed.matmul_rate
    return "\n".join([
        f"device {device}, torch threads {torch.get_num_threads()}, {timed.rounds} timed rounds; "
        f"a {MATMUL} × {MATMUL} matrix product runs at {rate / 1e9:.0f} GFLOP/s",
        f"{flop_per_sample:,} FLOPs per sample: {1e6 * flop_per_sample / rate:.2f} µs at the "
        f"matrix product's rate, {100 * flop_per_sample / rate / step_time[1]:.1f} % of the "
        "measured B = 1 step",
        timing_table(step_time, gflops, rate),
        timing_summary(step_time),
    ])  # fmt: skip


def timing_metrics(timed: StepTimes, gflops: Mapping[int, float]) -> dict[str, float]:
    """Section 5's entries of metrics.json: seconds per step and GFLOP/s per batch size, the
    matrix product's GFLOP/s, and how many times less a sample costs at B = 512 than at 1."""
    t = timed.step_time
    return {
        **{f"step_seconds_b{b}": seconds for b, seconds in t.items()},
        **{f"gflops_b{b}": value for b, value in gflops.items()},
        "matmul_gflops": timed.matmul_rate / 1e9,
        "per_sample_speedup_b512": t[1] / (t[512] / 512),
    }


def timing_table(step_time: Mapping[int, float], gflops: Mapping[int, float], rate: float) -> str:
    """µs per step and per sample, achieved GFLOP/s and its share of `rate` (FLOP/s)."""
    lines = ["    B   µs per step   µs per sample   GFLOP/s   % of the matrix product's"]
    for b, t in step_time.items():
        lines.append(f"{b:5d}   {1e6 * t:11.1f}   {1e6 * t / b:13.3f}   {gflops[b]:7.2f}   "
                     f"{100 * gflops[b] * 1e9 / rate:9.1f} %")  # fmt: skip
    return "\n".join(lines)


def timing_summary(step_time: Mapping[int, float]) -> str:
    """What the timings say, from the numbers: how a step's time grew against its batch,
    and where the time per sample stopped falling (less than 2× for 8× the batch)."""
    sizes = sorted(step_time)
    small, big = sizes[0], sizes[-1]
    per = {b: step_time[b] / b for b in sizes}
    grew = step_time[big] / step_time[small]
    lines = [
        f"from B = {small} to B = {big} ({big // small:,}× the samples) a step took {grew:.1f}× "
        f"as long, so a sample cost {per[small] / per[big]:.0f}× less"
    ]
    for a, b in itertools.pairwise(sizes):
        if per[b] / per[a] > 0.5:  # less than 2× cheaper per sample for the bigger batch
            lines.append(
                f"time per sample at B = {b} / at B = {a}: {per[b] / per[a]:.2f} (a step of "
                f"fixed cost would give {a / b:.3g}, 1 means no gain): batching stops paying here"
            )
            break
    else:
        lines.append("the time per sample fell at least 2× at every step up in batch size")
    return "\n".join(lines)


def timing_figure(step_time: Mapping[int, float]) -> Figure:
    """µs per sample against B (log-log) with the two extremes: no gain from batching, and a
    step that costs the same for any B."""
    fig = Figure(figsize=(5.6, 3.6), dpi=72, layout="constrained")
    ax = fig.subplots()
    sizes = np.array(list(step_time))
    per_sample = 1e6 * np.array(list(step_time.values())) / sizes
    ax.loglog(sizes, per_sample, "o-", label="measured")
    ax.loglog(sizes, np.full(len(sizes), per_sample[0]), ":", color="0.5",
              label="no gain from batching (cost of B = 1)")  # fmt: skip
    ax.loglog(sizes, per_sample[0] / sizes, "--", color="0.5",
              label="a step costs the same for any B")  # fmt: skip
    ax.set(xlabel="batch size B (log scale)", ylabel="µs per sample (log scale)",
           title="time per training sample, small MLP")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig
