"""Serving side by side: throughput and latency vs concurrency, with and without dynamic
batching, and one process vs two Ray Serve replicas, against the same model in one run.

Each configuration is a real `labkit serve` process on a free loopback port, loaded by
`labkit.loadtest.load_test` (a closed loop: each client sends its next request when the last
is answered) with one-row requests, after a warm-up. The client runs on the same cores as the
server, as on any one machine. The servers being compared run at the same time and are
tested in rounds, back to back at each concurrency, the one that goes first alternating: a
burst of load on this shared machine hits both alike, and every ratio is paired by round
(median, lowest–highest). Targets (issue 16): dynamic batching >= 2x throughput at
concurrency 16 with p99 within its wait budget; the replicas' ratio is reported as measured
(on 2 cores two replicas share the cores the single process already had).

    python bench/serve.py [--hidden 2048] [--requests 800] [--rounds 5] [--no-replicas]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import labkit
from labkit.export import data_metadata, export_onnx
from labkit.figures.serving import load_table, paired_ratios
from labkit.loadtest import load_test
from labkit.serve import ServerProcess

CONCURRENCY = (1, 4, 16)


def rounds_side_by_side(servers: dict, body, requests: int, rounds: int) -> dict:
    """{(setup, concurrency): [LoadResult per round]} for servers tested in turn."""
    for server in servers.values():  # warm up: first calls pay for lazy set-up
        load_test(server.url, body, concurrency=4, requests=100)
    results = {(name, c): [] for c in CONCURRENCY for name in servers}
    for i in range(rounds):
        order = list(servers) if i % 2 == 0 else list(servers)[::-1]
        for c in CONCURRENCY:
            for name in order:
                results[name, c].append(load_test(servers[name].url, body, concurrency=c,
                                                  requests=requests))  # fmt: skip
    return results


def ratio_words(ratios: list[float]) -> str:
    return f"{np.median(ratios):.2f}x (median of {len(ratios)} rounds; {min(ratios):.2f}-" \
           f"{max(ratios):.2f}x)"  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=2048, help="width of the two hidden layers")
    parser.add_argument("--requests", type=int, default=800, help="requests per load test")
    parser.add_argument("--rounds", type=int, default=5, help="load tests per point")
    parser.add_argument("--max-wait-ms", type=float, default=2.0, help="the batching wait")
    parser.add_argument("--no-replicas", action="store_true", help="skip the Ray Serve rows")
    args = parser.parse_args()

    data = labkit.load_digits(seed=0)
    torch.manual_seed(0)
    model = labkit.MLP(64, (args.hidden, args.hidden)).eval()  # untrained: speed only
    body = {"inputs": (data.test.x * data.std + data.mean)[:1].tolist()}
    batching = ("--batching", "--max-wait-ms", str(args.max_wait_ms))
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        path = export_onnx(model, data.test.x[:4], Path(tmp) / "model.onnx",
                           metadata=data_metadata(data))  # fmt: skip
        direct = stack.enter_context(ServerProcess(path, name="bench"))
        batched = stack.enter_context(ServerProcess(path, *batching, name="bench-batching"))
        results = rounds_side_by_side({"1 process": direct, "1 process, batching": batched},
                                      body, args.requests, args.rounds)  # fmt: skip
        if not args.no_replicas:
            batched.stop()  # idle, but out of the way of Ray
            replicas = stack.enter_context(
                ServerProcess(path, replicas=2, name="bench-replicas", timeout=180)
            )
            pair = {"1 process": direct, "2 Ray Serve replicas": replicas}
            for (name, c), runs in rounds_side_by_side(pair, body, args.requests, 3).items():
                results[f"{name} (vs replicas)", c] = runs
    table = load_table(results)
    with pd.option_context(
        "display.width", 200, "display.max_columns", None, "display.precision", 2
    ):
        print(f"MLP 64-{args.hidden}-{args.hidden}-10, one-row requests, {args.requests} per "
              f"load test; medians of the rounds, lowest and highest\n")  # fmt: skip
        print(table.drop(columns=["p90_ms", "errors_4xx"]))
    gain = paired_ratios(results["1 process", 16], results["1 process, batching", 16],
                         "throughput_rps")  # fmt: skip
    base, batched = table.loc[("1 process", 16)], table.loc[("1 process, batching", 16)]
    budget, p99 = base.p99_ms + args.max_wait_ms, batched.p99_ms
    print(f"\ndynamic batching at concurrency 16: {ratio_words(gain)} the throughput "
          f"(target >= 2x on the median: {'met' if np.median(gain) >= 2 else 'MISSED'}), "
          f"p99 {p99:.1f} ms vs {budget:.1f} ms (unbatched p99 + the wait: "
          f"{'within' if p99 <= budget else 'OVER'})")  # fmt: skip
    if not args.no_replicas:
        for c in CONCURRENCY:
            ratio = paired_ratios(results["1 process (vs replicas)", c],
                                  results["2 Ray Serve replicas (vs replicas)", c],
                                  "throughput_rps")  # fmt: skip
            print(f"2 replicas vs 1 process at concurrency {c}: {ratio_words(ratio)} the "
                  "throughput")  # fmt: skip
    errors = int(table["errors_5xx"].sum() + table["failures"].sum())
    print(f"5xx answers and failed requests over the whole run: {errors}")


if __name__ == "__main__":
    main()
