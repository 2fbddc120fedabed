"""Measure a model the way deployment sees it: latency percentiles, throughput, bytes.

Machines are noisy, so every number here is a distribution summarised by percentiles
after a warm-up, with the thread count pinned (`threads`) and restored afterwards. Compare
two variants only within one run of the same process, as ratios: `latency` of both, side
by side, interleaved where it matters (`compare_latency`).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from labkit.validate import check_int

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Latency:
    """Wall-clock milliseconds per call of one batch, over `repeats` timed calls."""

    batch: int  # rows per call
    p50_ms: float  # median
    p90_ms: float
    p99_ms: float  # the tail a server's slowest requests see
    mean_ms: float
    repeats: int  # timed calls (after the warm-up)

    @property
    def rows_per_s(self) -> float:
        """Throughput at the median: rows per second."""
        return self.batch / (self.p50_ms / 1000)


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Pin torch's intra-op threads to `n` for the block (None: leave as is), then restore."""
    if n is None:
        yield
        return
    check_int("threads", n, minimum=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_calls(fn: Callable[[], Any], *, warmup: int, repeats: int) -> np.ndarray:
    """Seconds per call of `fn()`, `repeats` times after `warmup` untimed calls."""
    check_int("warmup", warmup, minimum=0)
    check_int("repeats", repeats, minimum=1)
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - start
    return out


def summarize(seconds: np.ndarray, batch: int) -> Latency:
    """Percentiles of per-call times (seconds) as a `Latency` in milliseconds."""
    ms = np.asarray(seconds) * 1000
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return Latency(batch, float(p50), float(p90), float(p99), float(ms.mean()), len(ms))


def latency(
    predict: Callable[[Any], Any],
    x: Any,
    *,
    warmup: int = 20,
    repeats: int = 200,
    num_threads: int | None = None,
) -> Latency:
    """Latency of `predict(x)` for one batch `x` (rows first): percentiles after a warm-up.

    `predict` is anything that runs a model: a torch module (called under `no_grad` in eval
    mode by `torch_predictor`), an ONNX Runtime session wrapped by `labkit.export.ort_predictor`.
    """
    with threads(num_threads):
        return summarize(time_calls(lambda: predict(x), warmup=warmup, repeats=repeats), len(x))


def compare_latency(
    predictors: dict[str, Callable[[Any], Any]],
    x: Any,
    *,
    warmup: int = 20,
    repeats: int = 200,
    rounds: int = 5,
    num_threads: int | None = None,
) -> dict[str, Latency]:
    """Latency of several predictors on the same batch, interleaved in `rounds` so a burst
    of load on a shared machine hits all of them alike; one `Latency` per name."""
    check_int("rounds", rounds, minimum=1)
    per_round = max(1, repeats // rounds)
    times: dict[str, list[np.ndarray]] = {name: [] for name in predictors}
    with threads(num_threads):
        for fn in predictors.values():
            time_calls(lambda fn=fn: fn(x), warmup=warmup, repeats=1)
        for _ in range(rounds):
            for name, fn in predictors.items():
                times[name].append(time_calls(lambda fn=fn: fn(x), warmup=2, repeats=per_round))
    return {name: summarize(np.concatenate(t), len(x)) for name, t in times.items()}


def speedup_rounds(
    baseline: Callable[[Any], Any],
    others: Mapping[str, Callable[[Any], Any]],
    x: Any,
    *,
    rounds: int = 5,
    repeats: int = 40,
    num_threads: int | None = None,
) -> dict[str, list[float]]:
    """baseline p50 / other p50 on batch `x` for each of `others`, once per round: each round
    times them all, interleaved, in an order that rotates, so the rounds show how much a
    ratio moves on this machine. Judge the ratios with `speed_verdict`."""
    check_int("rounds", rounds, minimum=2)
    names = ["baseline", *others]
    runs = {"baseline": baseline, **others}
    ratios: dict[str, list[float]] = {name: [] for name in others}
    for i in range(rounds):
        order = names[i % len(names) :] + names[: i % len(names)]
        timed = compare_latency({n: runs[n] for n in order}, x, warmup=3, repeats=repeats,
                                rounds=1, num_threads=num_threads)  # fmt: skip
        for name in others:
            ratios[name].append(timed["baseline"].p50_ms / timed[name].p50_ms)
    return ratios


SAME_SPEED = 0.10  # speed differences under 10 % are ties: a shared machine moves them that much


def speed_verdict(ratios: Sequence[float], margin: float = SAME_SPEED) -> str:
    """'faster' when every round found it more than `margin` faster (ratios are baseline /
    this latency), 'slower' when every round found it more than `margin` slower, else 'tie':
    the rounds disagree, or the difference is too small to matter."""
    if min(ratios) > 1 + margin:
        return "faster"
    if max(ratios) < 1 / (1 + margin):
        return "slower"
    return "tie"


def ratio_phrase(ratio: float) -> str:
    """2.1 -> '2.10× faster', 0.5 -> '2.00× slower' (a ratio of baseline / this latency)."""
    return f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"


@dataclass(frozen=True)
class Candidate:
    """One variant of a model in a comparison table: how to run it and what it scored."""

    predict: Callable[[Any], Any]  # a batch of rows -> outputs (see torch_predictor)
    accuracy: float  # on the same held-out rows as the other candidates
    params: int  # parameters (non-zero ones, for a pruned model, if that is the point)
    size_bytes: int  # what it takes on disk


def comparison_table(
    candidates: dict[str, Candidate],
    batches: dict[int, Any],
    *,
    repeats: int = 200,
    num_threads: int | None = None,
) -> pd.DataFrame:
    """One row per candidate, the baseline first: accuracy, parameters, bytes, and latency
    p50/p99 at each batch size (timed interleaved, same inputs and threads), with ratios to
    the first row: `speedup_b<B>` (baseline p50 / this p50) and `smaller` (baseline bytes /
    these bytes). `batches` maps a batch size to a batch of inputs of that many rows."""
    import pandas as pd

    if not candidates:
        raise ValueError("comparison_table needs at least one candidate")
    predictors = {name: c.predict for name, c in candidates.items()}
    rows = {
        name: {"accuracy": c.accuracy, "params": c.params, "bytes": c.size_bytes}
        for name, c in candidates.items()
    }
    for b, x in batches.items():
        timed = compare_latency(predictors, x, repeats=repeats, num_threads=num_threads)
        for name, lat in timed.items():
            rows[name][f"p50_b{b}_ms"] = lat.p50_ms
            rows[name][f"p99_b{b}_ms"] = lat.p99_ms
    table = pd.DataFrame.from_dict(rows, orient="index")
    base = table.iloc[0]
    for b in batches:
        table[f"speedup_b{b}"] = base[f"p50_b{b}_ms"] / table[f"p50_b{b}_ms"]
    table["smaller"] = base["bytes"] / table["bytes"]
    return table


def torch_predictor(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """`model` as a plain function for timing: eval mode, no autograd."""
    model.eval()

    @torch.inference_mode()
    def run(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    return run


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of `torch.save(model.state_dict())`: what a checkpoint of the weights costs
    on disk (masks and any extra buffers included)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def file_bytes(path: str | os.PathLike) -> int:
    """Size of a file on disk, counting an ONNX file's external `.data` file if it has one."""
    path = Path(path)
    extra = path.with_name(path.name + ".data")
    return path.stat().st_size + (extra.stat().st_size if extra.exists() else 0)
