"""Compression side by side: dense vs masked vs structurally pruned, fp32 vs int8, and a
distilled student vs the same student alone, on the same inputs and threads in one run.

The model is the wider MLP (64-1024-1024-10) where size and latency matter; latencies are
medians of interleaved timings, reported with ratios to the dense fp32 baseline (machines
are noisy, so only ratios measured in one run mean anything). Targets (DESIGN.md):
removing half the hidden units >= 1.5x faster; ORT int8 >= 1.5x faster than ORT fp32 at
batch 64, >= 3.5x smaller, <= 1 point of accuracy lost; 90 % unstructured sparsity within 1
point after fine-tuning; the distilled student above the student alone on average over seeds.

    python bench/compress.py [--threads 2] [--repeats 300] [--seeds 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
from pathlib import Path

import torch

import labkit
from labkit import bench
from labkit.compress import distill, prune, quantize
from labkit.export import export_onnx, ort_predictor, ort_session


def accuracy(predict, split) -> float:
    return float((torch.as_tensor(predict(split.x)).argmax(1) == split.y).float().mean())


def train_wide(data, seed: int) -> labkit.MLP:
    labkit.seed_everything(seed)
    model = labkit.MLP(hidden=(1024, 1024))
    config = labkit.TrainConfig(lr=1e-3, epochs=5, seed=seed, device="cpu")
    labkit.fit(model, data.train, config, show_progress=False)
    return model.eval()


def pruning_and_int8(data, threads: int, repeats: int) -> None:
    dense = train_wide(data, 0)
    masked = copy.deepcopy(dense)
    prune.magnitude_prune_(masked, 0.9, scope="global")
    finetuned = copy.deepcopy(dense)
    finetune = labkit.TrainConfig(lr=1e-3, epochs=1, device="cpu")
    prune.prune_and_finetune(finetuned, data.train, 0.9, finetune, steps=3)
    half = prune.prune_units(dense, 0.5).eval()
    folder = Path(tempfile.mkdtemp())
    fp32 = export_onnx(dense, data.train.x[:4], folder / "fp32.onnx")
    dynamic = quantize.quantize_onnx_dynamic(fp32, folder / "dynamic.onnx")
    static = quantize.quantize_onnx_static(fp32, folder / "static.onnx", data.train.x[:512])
    candidates = {}
    for name, model in [("torch dense", dense), ("torch masked 90%", masked),
                        ("torch half units", half)]:  # fmt: skip
        run = bench.torch_predictor(model)
        candidates[name] = bench.Candidate(run, accuracy(run, data.test),
                                           labkit.parameter_count(model),
                                           bench.state_dict_bytes(model))  # fmt: skip
    for name, path in [("ORT fp32", fp32), ("ORT int8 dynamic", dynamic),
                       ("ORT int8 static", static)]:  # fmt: skip
        run = ort_predictor(ort_session(path, threads=threads))
        params = labkit.parameter_count(dense)
        candidates[name] = bench.Candidate(run, accuracy(run, data.test), params,
                                           bench.file_bytes(path))  # fmt: skip
    batches = {1: data.test.x[:1], 64: data.test.x[:64]}
    table = bench.comparison_table(candidates, batches, repeats=repeats, num_threads=threads)
    with pandas_options():
        print(table.round(3).to_string())
    ft = accuracy(bench.torch_predictor(finetuned), data.test)
    base = table.loc["torch dense"]
    ort = table.loc["ORT fp32"]
    print()
    _target(
        "half the units, speedup at batch 64", table.loc["torch half units", "speedup_b64"], 1.5
    )
    _target("masks at 90 %, speedup at batch 64 (no target: masks do not pay)",
            table.loc["torch masked 90%", "speedup_b64"], None)  # fmt: skip
    print(f"90 % sparse: accuracy {table.loc['torch masked 90%', 'accuracy']:.3f} pruned only, "
          f"{ft:.3f} fine-tuned vs dense {base.accuracy:.3f} (target: within 0.01 fine-tuned: "
          f"{'met' if ft >= base.accuracy - 0.01 else 'MISSED'})")  # fmt: skip
    for name in ("ORT int8 dynamic", "ORT int8 static"):
        row = table.loc[name]
        _target(f"{name} / ORT fp32 speed at batch 64", ort.p50_b64_ms / row.p50_b64_ms, 1.5)
        _target(f"{name} smaller than ORT fp32", ort.bytes / row.bytes, 3.5)
        lost = ort.accuracy - row.accuracy
        print(f"{name}: accuracy lost {lost:+.3f} (target <= 0.01: "
              f"{'met' if lost <= 0.01 else 'MISSED'})")  # fmt: skip
    _target("ORT fp32 vs torch eager at batch 1", base.p50_b1_ms / ort.p50_b1_ms, 2.0)


def distillation(data, seeds: int) -> None:
    gains = []
    for seed in range(seeds):
        labkit.seed_everything(seed)
        teacher = labkit.SmallCNN()  # notebook 09's settings: its teacher, students and T
        augment = labkit.data.random_shifts(data)
        labkit.fit(teacher, data.train, labkit.TrainConfig(epochs=40, seed=seed, device="cpu"),
                   augment=augment, show_progress=False)  # fmt: skip
        teacher.eval()
        config = labkit.TrainConfig(epochs=10, seed=seed, device="cpu")
        labkit.seed_everything(seed)
        alone = labkit.MLP(hidden=(256, 256))
        labkit.fit(alone, data.train, config, show_progress=False)
        labkit.seed_everything(seed)
        student = labkit.MLP(hidden=(256, 256))
        distill.distill(student, teacher, data.train, config, distill.DistillConfig(4.0, 0.9),
                        show_progress=False)  # fmt: skip
        scores = [labkit.evaluate(m, data.test)["accuracy"] for m in (teacher, alone, student)]
        gains.append(scores[2] - scores[1])
        print(f"seed {seed}: teacher {scores[0]:.3f}, student alone {scores[1]:.3f}, "
              f"distilled {scores[2]:.3f}")  # fmt: skip
    mean = statistics.mean(gains)
    spread = statistics.stdev(gains) if len(gains) > 1 else float("nan")
    print(f"distilled - alone: {mean:+.4f} ± {spread:.4f} (std over {seeds} seeds; target > 0: "
          f"{'met' if mean > 0 else 'MISSED'})")  # fmt: skip


def _target(what: str, ratio: float, target: float | None) -> None:
    verdict = "" if target is None else f" (target >= {target}: "
    verdict += "" if target is None else ("met)" if ratio >= target else "MISSED)")
    print(f"{what}: {ratio:.2f}x{verdict}")


def pandas_options():
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = labkit.load_digits(seed=0)
    pruning_and_int8(data, args.threads, args.repeats)
    print()
    distillation(data, args.seeds)


if __name__ == "__main__":
    main()
