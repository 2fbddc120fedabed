"""Training a GPT in labkit's loop: fp32 vs bf16 autocast, with and without activation
checkpointing, side by side.

For each model shape, every variant trains one epoch of random tokens through `fit` per
round, the variants interleaved, for several rounds. The report gives median tokens/s, the
model FLOPs utilization (MFU) against the fastest matmul rate measured in the same run (the
better of fp32 and bf16 at 1024³, the best reading between rounds: the machine's ceiling), the
bytes of activations saved for backward, and ratios to fp32 without checkpointing. Whether
bf16 pays depends on the CPU: with AMX or AVX-512 BF16 its matmuls outrun fp32; with AVX2
only (the 2-core machine the kit is tested on) they are converted and run many times slower.

    python bench/gpt.py [--rounds 3] [--threads 2] [--shapes tiny,wide]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from labkit import scale
from labkit.bench import threads as pinned_threads
from labkit.data import Split, sequence_loss
from labkit.models import TinyGPT, parameter_count
from labkit.train import TrainConfig, fit, seed_everything

SHAPES = {  # name: (n_layer, n_head, n_embd, context, sequences per epoch, batch)
    "tiny": (2, 4, 64, 12, 512, 64),  # notebook 06's default model on its sorting task
    "wide": (2, 4, 256, 64, 64, 16),  # wide enough for matmuls to dominate
}
VARIANTS = {  # name: (precision, activation checkpointing)
    "fp32": ("fp32", False),
    "bf16": ("bf16", False),
    "fp32 + checkpointing": ("fp32", True),
    "bf16 + checkpointing": ("bf16", True),
}
VOCAB = 64


def build(shape: tuple[int, ...]) -> tuple[TinyGPT, Split]:
    n_layer, n_head, n_embd, context, n, _ = shape
    seed_everything(0)
    model = TinyGPT(vocab=VOCAB, context=context, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    tokens = torch.randint(0, VOCAB, (n, context + 1), generator=torch.Generator().manual_seed(0))
    return model, Split(tokens[:, :-1], tokens[:, 1:])


def one_epoch(shape: tuple[int, ...], precision: str, checkpointing: bool) -> float:
    """Seconds of one training epoch through fit (its own clock, setup excluded)."""
    model, data = build(shape)
    config = TrainConfig(lr=1e-3, batch_size=shape[-1], epochs=1, precision=precision,
                         activation_checkpointing=checkpointing, device="cpu")  # fmt: skip
    history = fit(model, data, config, loss_fn=sequence_loss, show_progress=False)
    return history.seconds[0]


def activations(shape: tuple[int, ...], precision: str, checkpointing: bool) -> int:
    model, data = build(shape)
    model.activation_checkpointing = checkpointing
    batch = shape[-1]
    with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
        return scale.saved_activation_bytes(model.train(), data.x[:batch], data.y[:batch],
                                            sequence_loss)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"from {', '.join(SHAPES)}")
    args = ap.parse_args()
    with pinned_threads(args.threads):
        ceilings = {"fp32": scale.matmul_ceiling(torch.float32, 1024),
                    "bf16": scale.matmul_ceiling(torch.bfloat16, 1024)}  # fmt: skip
        print(f"matmul ceiling at 1024³, {args.threads} threads: "
              f"fp32 {ceilings['fp32'] / 1e9:.0f} GFLOP/s, bf16 {ceilings['bf16'] / 1e9:.0f} "
              f"GFLOP/s ({ceilings['bf16'] / ceilings['fp32']:.2f}x)")  # fmt: skip
        for name in args.shapes.split(","):
            shape = SHAPES[name]
            n_layer, n_head, n_embd, context, _, batch = shape
            model, data = build(shape)
            flops = scale.train_flops_per_token(
                n_layer, n_embd, context, parameter_count(model) - (VOCAB + context) * n_embd
            )["total"]
            one_epoch(shape, "fp32", False)  # warm-up
            seconds = {v: [] for v in VARIANTS}
            for _ in range(args.rounds):
                for variant, (precision, checkpointing) in VARIANTS.items():
                    seconds[variant].append(one_epoch(shape, precision, checkpointing))
                # the ceiling measured again between rounds: one reading taken at a busy
                # moment would put MFU above 100 %
                ceilings["fp32"] = max(ceilings["fp32"], scale.matmul_ceiling(torch.float32, 1024))
            tokens = data.x.numel()
            print(f"\nthe fp32 ceiling, best reading so far: {ceilings['fp32'] / 1e9:.0f} GFLOP/s")
            print(f"{name}: {n_layer} layers x {n_embd} wide, {n_head} heads, context "
                  f"{context}, batch {batch}, {parameter_count(model):,} parameters, "
                  f"{flops / 1e6:.1f} MFLOP per token")  # fmt: skip
            print(f"{'variant':<22}{'tokens/s':>10}{'MFU':>8}{'activations':>14}"
                  f"{'speed ×':>9}{'memory ×':>10}")  # fmt: skip
            base_rate = base_bytes = None
            for variant, (precision, checkpointing) in VARIANTS.items():
                rate = tokens / statistics.median(seconds[variant])
                saved = activations(shape, precision, checkpointing)
                base_rate, base_bytes = base_rate or rate, base_bytes or saved
                use = scale.mfu(rate, flops, max(ceilings.values()))
                print(f"{variant:<22}{rate:>10,.0f}{use:>8.1%}{saved / 2**20:>11.2f} MiB"
                      f"{rate / base_rate:>9.2f}{saved / base_bytes:>10.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
