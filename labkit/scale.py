"""The arithmetic of scale: what a GPT costs in parameters, FLOPs and memory.

Each count is a formula with its source, checked against the tiny model where it can be
measured (parameters, FLOPs, the bytes of training state and of saved activations, the
matmul rate of this machine), then applied unchanged to GPT-shaped 7B and 70B-class
models to answer what fits on one 80 GB GPU and what needs sharding. Bytes are exact
integers; GB means 10⁹ bytes throughout, as GPU makers count.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from labkit.bench import threads as pinned_threads
from labkit.optim import OPTIMIZERS
from labkit.validate import check_choice, check_float, check_int

GB = 10**9

# Buffers of one value per parameter that each labkit optimizer keeps (torch.optim with
# labkit's defaults): SGD none; momentum/nesterov a velocity; Adagrad the sum of squares;
# RMSprop (momentum 0, not centered) the running mean square; Adam(W) two moments.
OPTIMIZER_BUFFERS = {
    "sgd": 0,
    "momentum": 1,
    "nesterov": 1,
    "adagrad": 1,
    "rmsprop": 1,
    "adam": 2,
    "adamw": 2,
}
# fp32: weights, gradients and optimizer state in fp32. mixed: bf16 weights and gradients,
# an fp32 master copy and fp32 optimizer state (Micikevicius et al. 2018). labkit's
# TrainConfig(precision="bf16") only autocasts the forward: its state is the fp32 row.
TRAINING_PRECISIONS = ("fp32", "mixed")

# GPT-shaped presets. "7B": GPT-3 6.7B's depth and width (Brown et al. 2020, table 2.1)
# with a 32k vocabulary and 4k context: ≈ 6.7B. "70B-class": Llama 2 70B's depth and width
# (80 × 8192), but with GPT's 4·d MLP and full multi-head attention (Llama 2 has a SwiGLU
# MLP of 28672 and grouped-query attention), so ≈ 65B here.
PRESETS: dict[str, dict[str, int]] = {
    "7B": dict(vocab=32000, context=4096, n_layer=32, n_head=32, n_embd=4096),
    "70B-class": dict(vocab=32000, context=4096, n_layer=80, n_head=64, n_embd=8192),
}


def gpt_parameters(vocab: int, context: int, n_layer: int, n_embd: int) -> dict[str, int]:
    """Parameters of `labkit.models.TinyGPT` (GPT-2's layout, untied head) by component.

    "non_embedding" is the total less the two embedding tables (Kaplan et al. 2020, who
    count N that way); the untied head stays in it, since it is a matmul.
    """
    _check_sizes(vocab=vocab, context=context, n_layer=n_layer, n_embd=n_embd)
    d = n_embd
    parts = {
        "token_embedding": vocab * d,  # one row of d per token id
        "position_embedding": context * d,  # one row of d per position
        "attention": n_layer * (d * 3 * d + 3 * d + d * d + d),  # qkv and proj, with biases
        "mlp": n_layer * (d * 4 * d + 4 * d + 4 * d * d + d),  # d → 4d → d, with biases
        "layer_norms": (2 * n_layer + 1) * 2 * d,  # two per block and a final one; γ and β
        "head": d * vocab,  # no bias
    }
    parts["total"] = sum(parts.values())
    parts["non_embedding"] = parts["total"] - parts["token_embedding"] - parts["position_embedding"]
    return parts


def train_flops_per_token(n_layer: int, n_embd: int, context: int, params: int) -> dict[str, int]:
    """Training FLOPs per token, forward and backward: {"dense", "attention", "total"}.

    dense = 6·N (Kaplan et al. 2020, sec. 2.1): each weight does a multiply-add (2 FLOPs)
    per token forward and two in backward (gradients of input and weight), with N the
    non-embedding parameters. attention = 12·n_layer·n_embd·context (Chowdhery et al. 2022,
    PaLM, appendix B): q·kᵀ and attention·v, 2·2·T·d forward per layer, twice that
    backward, with the causal mask's skipped half counted, as PaLM does.
    """
    _check_sizes(n_layer=n_layer, n_embd=n_embd, context=context)
    check_int("params", params, minimum=0)
    dense = 6 * params
    attention = 12 * n_layer * n_embd * context
    return {"dense": dense, "attention": attention, "total": dense + attention}


def training_memory(
    params: int, precision: str = "fp32", optimizer: str = "adam"
) -> dict[str, int]:
    """Bytes of training state by part: weights, gradients, master weights, optimizer state.

    With Adam both precisions come to 16 bytes per parameter: fp32 4 + 4 + 2·4, mixed
    2 + 2 + 4 + 2·4 (Rajbhandari et al. 2020, ZeRO, sec. 3.1: 2Ψ + 2Ψ + 12Ψ). Activations
    and temporary buffers are not included (see `activation_bytes`).
    """
    check_int("params", params, minimum=0)
    check_choice("precision", precision, TRAINING_PRECISIONS)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    weight_bytes = 4 if precision == "fp32" else 2
    parts = {
        "weights": weight_bytes * params,
        "gradients": weight_bytes * params,  # one gradient per weight, in the weights' dtype
        "master_weights": 0 if precision == "fp32" else 4 * params,  # fp32 copy to update
        "optimizer_state": 4 * OPTIMIZER_BUFFERS[optimizer] * params,  # fp32 buffers
    }
    parts["total"] = sum(parts.values())
    return parts


def measured_training_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """The real bytes of weights, .grad and optimizer state tensors (after a step).

    torch's optimizers keep a `step` counter per parameter tensor (a 4-byte scalar for
    Adam, Adagrad, RMSprop): it grows with the number of tensors, not of parameters, so it
    is reported apart as "step_counters" and left out of "optimizer_state".
    """
    params = list(model.parameters())
    state = [
        (key, t)
        for per_param in optimizer.state.values()
        for key, t in per_param.items()
        if isinstance(t, torch.Tensor)
    ]
    parts = {
        "weights": sum(_nbytes(p) for p in params),
        "gradients": sum(_nbytes(p.grad) for p in params if p.grad is not None),
        "optimizer_state": sum(_nbytes(t) for key, t in state if key != "step"),
        "step_counters": sum(_nbytes(t) for key, t in state if key == "step"),
    }
    parts["total"] = sum(parts.values())
    return parts


def saved_activation_bytes(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> int:
    """Bytes of the tensors autograd saves for backward during one training forward.

    Every tensor saved for backward passes through a `saved_tensors_hooks` pack hook; each
    storage is counted once at its full size (q, k and v are views of one qkv output), and
    the model's own parameters are left out. Run under `torch.autocast` to measure bf16.
    With `activation_checkpointing` set, checkpointed blocks keep only their input: what
    they recompute in backward never reaches this hook.
    """
    own = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}  # storage address → bytes

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in own:
            seen[storage.data_ptr()] = storage.nbytes()
        return t  # the graph holds it until backward, so no address is reused meanwhile

    was_training = model.training
    model.train()
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss_fn(model(x), y)
    finally:
        model.train(was_training)
    return sum(seen.values())


def activation_bytes(
    batch: int,
    context: int,
    n_layer: int,
    n_embd: int,
    n_head: int,
    bytes_per_value: int = 4,
    checkpointing: bool = False,
    *,
    vocab: int,
) -> dict[str, int]:
    """Estimated bytes of activations one training step of a TinyGPT keeps, by part.

    Derived from what TinyGPT saves (fused attention, no dropout), with s = context, b =
    batch, h = n_embd, a = n_head and p = bytes_per_value. Per block: 16·sbh values — the
    block input and the mid-block residual (LayerNorms), both LayerNorm outputs (the qkv and
    fc inputs), qkv (3), the attention output (proj input), the GELU input and output
    (4 + 4) — plus fp32 LayerNorm means and 1/std (4·sb) and the attention log-sum-exp
    (a·sb). Outside the blocks: int64 token ids, positions and targets, the final
    LayerNorm and head inputs, and the fp32 log-softmax of the logits (s·b·vocab).
    Korthikanti et al. 2022 give the standard form for a Megatron layer at 16-bit,
    s·b·h·(34 + 5·a·s/h) bytes (`korthikanti_layer_bytes`): 2 more sbh for dropout masks,
    and 5·a·s²·b for the unfused s×s attention scores that fused attention never stores.
    With checkpointing, the forward keeps one block input per layer, and the backward holds
    one block's activations at a time while recomputing it ("recompute").
    p applies to every activation: labkit's bf16 autocast keeps the residual stream and
    LayerNorm outputs in fp32 and bf16 copies of the weights, so it saves more than p = 2.
    """
    _check_sizes(
        batch=batch,
        context=context,
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        bytes_per_value=bytes_per_value,
        vocab=vocab,
    )
    s, b, h, a, p = context, batch, n_embd, n_head, bytes_per_value
    layer = p * 16 * s * b * h + 4 * (4 * s * b + a * s * b)
    outside = (
        8 * (s * b + s + s * b)  # int64 token ids, position ids, targets
        + p * 2 * s * b * h  # the final LayerNorm's input and the head's input
        + 4 * 2 * s * b  # the final LayerNorm's mean and 1/std
        + 4 * s * b * vocab  # log-softmax of the logits, in fp32 (autocast keeps it there)
        + 4  # the loss's total weight (a scalar)
    )
    blocks = n_layer * (p * s * b * h if checkpointing else layer)
    recompute = layer if checkpointing else 0
    saved = blocks + outside
    return {
        "blocks": blocks,
        "outside_blocks": outside,
        "saved": saved,  # what the forward keeps for backward: `saved_activation_bytes`
        "recompute": recompute,
        "peak": saved + recompute,
    }


def korthikanti_layer_bytes(batch: int, context: int, n_embd: int, n_head: int) -> int:
    """Activation bytes per transformer layer at 16-bit, s·b·h·(34 + 5·a·s/h) (Korthikanti
    et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", sec. 4.1)."""
    s, b, h, a = context, batch, n_embd, n_head
    return s * b * h * 34 + 5 * a * s * s * b


def matmul_ceiling(
    dtype: torch.dtype = torch.float32,
    size: int = 1024,
    threads: int | None = None,
    repeats: int = 10,
    *,
    max_seconds: float = 0.5,
    device: str | torch.device = "cpu",
) -> float:
    """Measured matmul FLOP/s: 2·size³ FLOPs per (size × size) product, the median of up to
    `repeats` timed products after one warm-up, stopping early once `max_seconds` are spent
    (a CPU without native bf16 takes seconds per product), with `threads` pinned if given."""
    check_int("size", size, minimum=1)
    check_int("repeats", repeats, minimum=1)
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=gen).to(device, dtype) for _ in range(2))
    out = torch.empty(size, size, dtype=dtype, device=device)

    def product() -> None:
        torch.matmul(a, b, out=out)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # GPU kernels run asynchronously

    seconds: list[float] = []
    with pinned_threads(threads):
        product()  # warm-up: first-call allocation and kernel selection
        start = time.perf_counter()
        while len(seconds) < repeats and (not seconds or time.perf_counter() - start < max_seconds):
            tick = time.perf_counter()
            product()
            seconds.append(time.perf_counter() - tick)
    return 2 * size**3 / statistics.median(seconds)


def mfu(tokens_per_s: float, flops_per_token: float, ceiling: float) -> float:
    """Model FLOPs utilization: the share of the ceiling the model's FLOPs use (Chowdhery
    et al. 2022, sec. 4.1). Use `train_flops_per_token` and `matmul_ceiling`."""
    check_float("tokens_per_s", tokens_per_s, minimum=0.0)
    check_float("ceiling", ceiling, positive=True)
    return tokens_per_s * flops_per_token / ceiling


def what_fits(
    presets: Sequence[str] = tuple(PRESETS),
    *,
    gpu_gb: float = 80.0,
    micro_batch: int = 1,
    optimizer: str = "adam",
) -> list[dict[str, Any]]:
    """What fits on one GPU of `gpu_gb`, for training and for inference, one row each.

    Training: mixed-precision state (`training_memory`, 16 B/param with Adam) plus bf16
    activations of `micro_batch` sequences with checkpointing ("peak"); `gpus` is the fewest
    GPUs that fit when ZeRO-3 / FSDP shards the state evenly and each GPU holds its own
    micro-batch's activations: state / n + activations <= gpu. Inference: the weights alone
    at bf16, int8 and int4, split over `gpus` (KV cache and temporary buffers not counted).
    """
    check_float("gpu_gb", gpu_gb, positive=True)
    check_int("micro_batch", micro_batch, minimum=1)
    gpu = gpu_gb * GB
    rows = []
    for name in presets:
        check_choice("preset", name, PRESETS)
        shape = PRESETS[name]
        n = gpt_parameters(shape["vocab"], shape["context"], shape["n_layer"], shape["n_embd"])
        n = n["total"]
        state = training_memory(n, "mixed", optimizer)["total"]
        act = activation_bytes(
            micro_batch,
            shape["context"],
            shape["n_layer"],
            shape["n_embd"],
            shape["n_head"],
            2,
            True,
            vocab=shape["vocab"],
        )["peak"]
        gpus = math.ceil(state / (gpu - act)) if act < gpu else None  # None: never fits
        rows.append(_row(name, n, f"train, {optimizer}, mixed precision", state, act, gpus, gpu))
        for label, per_param in (("bf16", 2), ("int8", 1), ("int4", 0.5)):
            weights = int(per_param * n)
            gpus = math.ceil(weights / gpu)
            rows.append(_row(name, n, f"inference, {label} weights", weights, 0, gpus, gpu))
    return rows


def _row(model, params, use, state, activations, gpus, gpu) -> dict[str, Any]:
    return {
        "model": model,
        "params": params,
        "use": use,
        "state_gb": state / GB,  # weights (+ gradients, optimizer state when training)
        "activations_gb": activations / GB,
        "total_gb": (state + activations) / GB,
        "fits_one_gpu": state + activations <= gpu,
        "gpus": gpus,
    }


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        check_int(name, value, minimum=1)
