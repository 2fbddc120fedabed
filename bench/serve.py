"""Serving side by side: throughput and latency vs concurrency, with and without dynamic
batching, and one process vs two Ray Serve replicas, against the same model in one run.

Each configuration is a real `labkit serve` process on a free loopback port, loaded by
`labkit.loadtest.load_test` (a closed loop: each client sends its next request when the last
is answered) with one-row requests, after a warm-up. The client runs on the same cores as the
server, as on any one machine. Targets (issue 16): dynamic batching >= 2x throughput at
concurrency 16 with p99 within its wait budget; the replicas' ratio is reported as measured
(on 2 cores two replicas share the cores the single process already had).

    python bench/serve.py [--hidden 2048] [--requests 800] [--no-replicas]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import torch

import labkit
from labkit.export import data_metadata, export_onnx
from labkit.loadtest import load_test
from labkit.serve import ServerProcess

CONCURRENCY = (1, 4, 16)


def measure(model: Path, args: tuple[str, ...], body, requests: int, **start) -> list[dict]:
    with ServerProcess(model, *args, name="bench", **start) as server:
        load_test(server.url, body, concurrency=4, requests=100)  # warm-up
        return [load_test(server.url, body, concurrency=c, requests=requests).row()
                for c in CONCURRENCY]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=2048, help="width of the two hidden layers")
    parser.add_argument("--requests", type=int, default=800, help="requests per measurement")
    parser.add_argument("--max-wait-ms", type=float, default=2.0, help="the batching wait")
    parser.add_argument("--no-replicas", action="store_true", help="skip the Ray Serve rows")
    args = parser.parse_args()

    data = labkit.load_digits(seed=0)
    torch.manual_seed(0)
    model = labkit.MLP(64, (args.hidden, args.hidden)).eval()  # untrained: speed only
    body = {"inputs": (data.test.x * data.std + data.mean)[:1].tolist()}
    wait = ("--max-wait-ms", str(args.max_wait_ms))
    setups = {
        "1 process": ((), {}),
        "1 process, batching": (("--batching", *wait), {}),
    }
    if not args.no_replicas:
        setups["2 Ray Serve replicas"] = ((), {"replicas": 2, "timeout": 180})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, data.test.x[:4], Path(tmp) / "model.onnx",
                           metadata=data_metadata(data))  # fmt: skip
        for name, (flags, start) in setups.items():
            rows += [{"setup": name, **row} for row in measure(path, flags, body, args.requests,
                                                                **start)]  # fmt: skip
    table = pd.DataFrame(rows).set_index(["setup", "concurrency"])
    with pd.option_context(
        "display.width", 200, "display.max_columns", None, "display.precision", 2
    ):
        print(f"MLP 64-{args.hidden}-{args.hidden}-10, one-row requests, {args.requests} per row\n")
        print(table.drop(columns=["requests"]))
    base = table.loc["1 process"]
    batched = table.loc["1 process, batching"]
    gain = batched.loc[16, "throughput_rps"] / base.loc[16, "throughput_rps"]
    budget, p99 = base.loc[16, "p99_ms"] + args.max_wait_ms, batched.loc[16, "p99_ms"]
    print(f"\ndynamic batching at concurrency 16: {gain:.2f}x the throughput "
          f"(target >= 2x: {'met' if gain >= 2 else 'MISSED'}), p99 {p99:.1f} ms vs {budget:.1f} "
          f"ms (unbatched p99 + the wait: {'within' if p99 <= budget else 'OVER'})")  # fmt: skip
    if "2 Ray Serve replicas" in table.index:
        replicas = table.loc["2 Ray Serve replicas"]
        for c in CONCURRENCY:
            ratio = replicas.loc[c, "throughput_rps"] / base.loc[c, "throughput_rps"]
            print(f"2 replicas vs 1 process at concurrency {c}: {ratio:.2f}x the throughput")
    errors = int(table["errors_5xx"].sum() + table["failures"].sum())
    print(f"5xx answers and failed requests over the whole run: {errors}")


if __name__ == "__main__":
    main()
