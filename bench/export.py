"""Export side by side: PyTorch eager vs ONNX Runtime fp32 and int8 vs LiteRT, at batch 1 and
64, on the same inputs and threads in one run.

The course MLP (64-128-10) first, then the wider MLP (64-1024-1024-10) where the weights
dominate. Latencies are medians of interleaved timings, reported as ratios to PyTorch eager
of the same model (machines are noisy, so only ratios measured in one run mean anything);
export and conversion times are reported apart, since they are paid once. Target (issue 15):
ONNX Runtime fp32 >= 2x PyTorch eager at batch 1 on the course MLP. LiteRT rows need the
extra labkit[litert]; without it they are left out and the run says so.

    python bench/export.py [--threads 1] [--repeats 300] [--epochs 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

import labkit
from labkit import bench
from labkit.compress import quantize
from labkit.export import (
    LITERT_MISSING,
    export_litert,
    export_onnx,
    litert_predictor,
    ort_predictor,
    ort_session,
)


def accuracy(predict, split) -> float:
    return float((torch.as_tensor(predict(split.x)).argmax(1) == split.y).float().mean())


def train(model: torch.nn.Module, data, lr: float, epochs: int) -> torch.nn.Module:
    labkit.seed_everything(0)
    labkit.fit(model, data.train, labkit.TrainConfig(lr=lr, epochs=epochs, device="cpu"),
               show_progress=False)  # fmt: skip
    return model.eval()


def timed(what: str, seconds: dict, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds[what] = time.perf_counter() - start
    return out


def runtimes(name, model, data, folder: Path, threads: int, litert: bool, seconds: dict):
    """Every runtime of `model` as comparison_table candidates, PyTorch eager first."""
    params = labkit.parameter_count(model)
    example = data.train.x[:2]
    fp32 = timed(f"{name}: ONNX export", seconds, export_onnx, model, example,
                 folder / f"{name}.onnx")  # fmt: skip
    int8 = timed(f"{name}: ORT int8 quantization", seconds, quantize.quantize_onnx_dynamic, fp32,
                 folder / f"{name}-int8.onnx")  # fmt: skip
    runs = {"PyTorch eager": (bench.torch_predictor(model), bench.state_dict_bytes(model))}
    for label, path in (("ORT fp32", fp32), ("ORT int8", int8)):
        runs[label] = (ort_predictor(ort_session(path, threads=threads)), bench.file_bytes(path))
    if litert:
        for label, quantization in (("LiteRT fp32", "none"), ("LiteRT int8", "dynamic_int8")):
            path = timed(f"{name}: {label} conversion", seconds, export_litert, model, example,
                         folder / f"{name}-{quantization}.tflite", quantization=quantization,
                         check_inputs=None if quantization == "none" else data.val.x)  # fmt: skip
            runs[label] = (litert_predictor(path, threads=threads), path.stat().st_size)
    return {label: bench.Candidate(run, accuracy(run, data.test), params, size)
            for label, (run, size) in runs.items()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    litert = all(importlib.util.find_spec(m) for m in ("litert_torch", "ai_edge_litert"))
    if not litert:
        print(f"no LiteRT rows: {LITERT_MISSING}\n")
    data = labkit.load_digits(seed=0)
    models = {
        "course MLP": train(labkit.MLP(), data, 3e-3, args.epochs),
        "wide MLP": train(labkit.MLP(hidden=(1024, 1024)), data, 1e-3, args.epochs),
    }
    folder = Path(tempfile.mkdtemp(prefix="labkit-bench-export-"))
    seconds: dict[str, float] = {}
    batches = {1: data.test.x[:1], 64: data.test.x[:64]}
    tables = {}
    for name, model in models.items():
        candidates = runtimes(name.split()[0], model, data, folder, args.threads, litert, seconds)
        tables[name] = bench.comparison_table(candidates, batches, repeats=args.repeats,
                                              num_threads=args.threads)  # fmt: skip
    table = pd.concat(tables, names=["model", "runtime"])
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(f"threads {args.threads}, {args.repeats} timed calls per cell; ratios against "
              "PyTorch eager of the same model")  # fmt: skip
        print(table.round(4).to_string())
    print("\nexport and conversion, paid once (the first of each kind warms its tool up):")
    for what, s in seconds.items():
        print(f"  {what}: {s:.2f} s")
    eager = bench.torch_predictor(models["course MLP"])
    session = ort_session(folder / "course.onnx", threads=args.threads)
    ort = ort_predictor(session)
    ratios = []
    for _ in range(5):  # the headline ratio again, in rounds, to show how much it moves
        pair = bench.compare_latency(
            {"eager": eager, "ort": ort},
            batches[1],
            rounds=1,
            repeats=args.repeats // 5,
            num_threads=args.threads,
        )
        ratios.append(pair["eager"].p50_ms / pair["ort"].p50_ms)
    ratio = float(table.loc[("course MLP", "ORT fp32"), "speedup_b1"])
    print(f"\ncourse MLP, ORT fp32 vs PyTorch eager at batch 1: {ratio:.2f}x in the table, "
          f"median {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x) over "
          f"5 more rounds (target >= 2x: {'met' if ratio >= 2 else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    main()
