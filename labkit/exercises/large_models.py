"""Notebook 06 (large models): `gpt_params`, `training_bytes` and `zero3_gpus`.

`gpt_params(vocab, context, n_layer, n_embd)` is graded on GPT shapes from a toy one to the
7B preset against `labkit.scale.gpt_parameters(...)["total"]` (TinyGPT's layout: untied
head, biases on every linear layer but the head, LayerNorms with γ and β). Mistakes
diagnosed: the biases left out, the LayerNorms left out or counted without β, one
LayerNorm per block, no final LayerNorm, the head tied to the embedding, no position
embedding, the MLP's second matrix or attention's output projection forgotten.

`training_bytes(params, precision, optimizer)` is graded against
`labkit.scale.training_memory(...)["total"]` for fp32 and mixed precision with SGD, momentum
and Adam. Mistakes diagnosed: gradients forgotten, the fp32 master copy forgotten, Adam with
one buffer, optimizer state in 16 bits, SGD given a buffer, gigabytes in place of bytes.

`zero3_gpus(state_gb, activations_gb, gpu_gb)` is graded against `labkit.scale.what_fits`'s
rule: the fewest n with state / n + activations ≤ gpu, None when the activations alone fill
the GPU. Mistakes diagnosed: floor in place of ceil, the activations ignored, the
activations sharded too, and a count returned where nothing fits. Exposed as `EXERCISES`,
which `labkit.exercises` merges.
"""

from __future__ import annotations

import math
from typing import Any

from labkit.exercises.core import Exercise, call, scalar
from labkit.scale import PRESETS

# ---- gpt_params ----------------------------------------------------------------------------

_SHAPES = [  # (vocab, context, n_layer, n_embd, description)
    (10, 12, 2, 64, "notebook 06's model: vocab 10, context 12, 2 layers, width 64"),
    (13, 7, 1, 24, "vocab 13, context 7, 1 layer, width 24"),
    (50, 32, 3, 48, "vocab 50, context 32, 3 layers, width 48"),
    (7, 5, 4, 8, "vocab 7, context 5, 4 layers, width 8"),
    (*(PRESETS["7B"][k] for k in ("vocab", "context", "n_layer", "n_embd")), "the 7B preset"),
]


def _gpt_params(vocab: int, context: int, n_layer: int, n_embd: int, *, mistake: str = "") -> int:
    """Reference (mistake=''): labkit.scale.gpt_parameters' total. Mistakes replay wrong
    answers."""
    d, L = n_embd, n_layer
    attention = L * (4 * d * d + 4 * d)
    mlp = L * (8 * d * d + 5 * d)
    norms = (2 * L + 1) * 2 * d
    embeddings = vocab * d + context * d
    head = d * vocab
    if mistake == "no biases":
        attention, mlp = L * 4 * d * d, L * 8 * d * d
    elif mistake == "no norms":
        norms = 0
    elif mistake == "norms without beta":
        norms = (2 * L + 1) * d
    elif mistake == "one norm per block":
        norms = (L + 1) * 2 * d
    elif mistake == "no final norm":
        norms = 2 * L * 2 * d
    elif mistake == "tied head":
        head = 0
    elif mistake == "no positions":
        embeddings = vocab * d
    elif mistake == "one mlp matrix":
        mlp = L * (4 * d * d + 4 * d)
    elif mistake == "no projection":
        attention = L * (3 * d * d + 3 * d)
    return embeddings + attention + mlp + norms + head


_GPT_MISTAKES = (  # checked in this order: the first that replays every case gives the hint
    ("no biases", "count the biases too: every linear layer but the head has one, 3d for qkv, "
                  "d for the projection, 4d and d in the MLP"),
    ("no norms", "count the LayerNorms: two per block and a final one, each with 2d "
                 "parameters (a scale γ and a shift β)"),
    ("norms without beta", "a LayerNorm has 2d parameters, a scale γ and a shift β, not d"),
    ("one norm per block", "a pre-norm block has two LayerNorms, one before attention and one "
                           "before the MLP, plus one final LayerNorm: (2L + 1)·2d"),
    ("no final norm", "add the final LayerNorm before the head: (2L + 1)·2d in all"),
    ("tied head", "TinyGPT's head is its own d × vocab matrix (not tied to the token "
                  "embedding): add d·vocab"),
    ("no positions", "add the position embedding: one row of d per position, context·d"),
    ("one mlp matrix", "the MLP has two matrices, d → 4d and 4d → d: 8d² weights and 5d biases "
                       "per block"),
    ("no projection", "attention has an output projection after qkv: 4d² weights and 4d biases "
                      "per block in all"),
)  # fmt: skip


def _check_gpt_params(fn: Any) -> str | None:
    outs = []
    for vocab, context, n_layer, n_embd, on in _SHAPES:
        out = call(fn, vocab, context, n_layer, n_embd, on=on)
        value = scalar(out)
        if value is None:
            return f"return one number, the total parameter count; got {out!r} for {on}"
        outs.append(value)
    wanted = [_gpt_params(*shape[:4]) for shape in _SHAPES]
    if outs == wanted:
        return None
    for mistake, hint in _GPT_MISTAKES:
        if outs == [_gpt_params(*s[:4], mistake=mistake) for s in _SHAPES]:
            return hint
    for out, want, shape in zip(outs, wanted, _SHAPES, strict=True):
        if out != want:
            return f"for {shape[-1]} the model has {want:,} parameters; you returned {out:,.0f}"
    return None


# ---- training_bytes ------------------------------------------------------------------------

_STATE_CASES = [  # (params, precision, optimizer)
    (1000, "fp32", "adam"),
    (1000, "mixed", "adam"),
    (6_723_084_288, "mixed", "adam"),
    (123, "fp32", "sgd"),
    (5000, "mixed", "momentum"),
    (77, "mixed", "sgd"),
    (4096, "fp32", "momentum"),
]
_BUFFERS = {"sgd": 0, "momentum": 1, "adam": 2}


def _training_bytes(params: int, precision: str, optimizer: str, *, mistake: str = "") -> float:
    """Reference (mistake=''): labkit.scale.training_memory's total. Mistakes replay wrong
    answers."""
    weight = 4 if precision == "fp32" else 2
    master = 0 if precision == "fp32" else 4
    buffers = _BUFFERS[optimizer] + (mistake == "sgd buffer" and optimizer == "sgd")
    per_buffer = 2 if mistake == "16-bit state" and precision == "mixed" else 4
    if mistake == "adam one buffer" and optimizer == "adam":
        buffers = 1
    grads = 0 if mistake == "no gradients" else weight
    if mistake == "no master":
        master = 0
    total = params * (weight + grads + master + per_buffer * buffers)
    return total / 1e9 if mistake == "GB" else total


_STATE_MISTAKES = (  # checked in this order: the first that replays every case gives the hint
    ("no gradients", "training also keeps one gradient per weight, in the weights' dtype"),
    ("no master", "mixed precision keeps an fp32 master copy of the weights (4 bytes each) that "
                  "the optimizer updates, beside the 16-bit weights the matmuls use"),
    ("adam one buffer", "Adam keeps two buffers per weight, the first and second moments "
                        "(m and v), 4 bytes each"),
    ("16-bit state", "the optimizer's buffers stay in fp32, 4 bytes each, in mixed precision "
                     "too: only the weights and gradients the matmuls see are 16-bit"),
    ("sgd buffer", "plain SGD keeps no buffer; momentum keeps one (the velocity)"),
    ("GB", "return bytes, not gigabytes"),
)  # fmt: skip


def _check_training_bytes(fn: Any) -> str | None:
    outs = []
    for params, precision, optimizer in _STATE_CASES:
        on = f"params={params:,}, precision={precision!r}, optimizer={optimizer!r}"
        out = call(fn, params, precision, optimizer, on=on)
        value = scalar(out)
        if value is None:
            return f"return one number, the bytes of training state; got {out!r} for {on}"
        outs.append(value)
    wanted = [_training_bytes(*case) for case in _STATE_CASES]

    def same(a: list[float], b: list[float]) -> bool:
        return all(math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a, b, strict=True))

    if same(outs, wanted):
        return None
    for mistake, hint in _STATE_MISTAKES:
        if same(outs, [_training_bytes(*case, mistake=mistake) for case in _STATE_CASES]):
            return hint
    for out, want, (params, precision, optimizer) in zip(outs, wanted, _STATE_CASES, strict=True):
        if not math.isclose(out, want, rel_tol=1e-9):
            return (f"for params={params:,}, {precision}, {optimizer} the state is {want:,} bytes "
                    f"({want / params:g} per parameter); you returned {out:,.0f}")  # fmt: skip
    return None


# ---- zero3_gpus ----------------------------------------------------------------------------

_GPU_CASES = [  # (state_gb, activations_gb, gpu_gb)
    (107.57, 2.20, 80.0),
    (1039.85, 7.10, 80.0),
    (50.0, 1.0, 80.0),
    (310.0, 20.0, 40.0),
    (100.0, 80.0, 80.0),
    (10.0, 90.0, 80.0),
    (160.0, 0.0, 80.0),
]


def _zero3_gpus(state: float, act: float, gpu: float, *, mistake: str = "") -> int | None:
    """Reference (mistake=''): scale.what_fits' count. Mistakes replay wrong answers."""
    if mistake == "ignore activations":
        return math.ceil(state / gpu)
    if mistake == "shard activations":
        return math.ceil((state + act) / gpu)
    if act >= gpu:
        return None
    return math.floor(state / (gpu - act)) if mistake == "floor" else math.ceil(state / (gpu - act))


_GPU_MISTAKES = (
    ("floor", "round up: with state / n + activations ≤ gpu, n must be at least "
              "state / (gpu − activations), and a fraction of a GPU means one more GPU"),
    ("ignore activations", "each GPU also holds its own micro-batch's activations, which "
                           "ZeRO-3 does not shard: only gpu − activations is left for the state"),
    ("shard activations", "ZeRO-3 shards the state (weights, gradients, optimizer), not the "
                          "activations: every GPU keeps its own micro-batch's, in full"),
)  # fmt: skip


def _as_count(out: Any) -> tuple[bool, int | None]:
    """(readable, value): None stays None; a whole number becomes an int."""
    if out is None:
        return True, None
    value = scalar(out)
    if value is None or not math.isfinite(value) or value != int(value):
        return False, None
    return True, int(value)


def _check_zero3_gpus(fn: Any) -> str | None:
    outs = []
    for state, act, gpu in _GPU_CASES:
        on = f"state_gb={state}, activations_gb={act}, gpu_gb={gpu}"
        out = call(fn, state, act, gpu, on=on, why={ZeroDivisionError: "when the activations "
                   "fill the GPU, nothing is left for the state: return None"})  # fmt: skip
        readable, value = _as_count(out)
        if not readable:
            return f"return a whole number of GPUs, or None; got {out!r} for {on}"
        outs.append(value)
    wanted = [_zero3_gpus(*case) for case in _GPU_CASES]
    if outs == wanted:
        return None
    for mistake, hint in _GPU_MISTAKES:
        if outs == [_zero3_gpus(*case, mistake=mistake) for case in _GPU_CASES]:
            return hint
    for out, want, (state, act, gpu) in zip(outs, wanted, _GPU_CASES, strict=True):
        if want is None and out is not None:
            return (f"with activations_gb={act} on a {gpu:g} GB GPU nothing is left for the state "
                    f"however it is sharded: return None, not {out}")  # fmt: skip
        if out != want:
            return (f"for state_gb={state}, activations_gb={act}, gpu_gb={gpu} the answer is "
                    f"{want}; you returned {out}")  # fmt: skip
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "gpt_params",
            "Write `gpt_params(vocab, context, n_layer, n_embd)`: the number of parameters of "
            "labkit's TinyGPT (GPT-2's layout): token and position embeddings; per block a "
            "LayerNorm, attention (one qkv linear layer d → 3d and an output projection d → d, "
            "both with biases), a LayerNorm and an MLP (d → 4d → d, with biases); a final "
            "LayerNorm; a head d → vocab without bias, not tied to the embedding. A LayerNorm "
            "has a scale and a shift per dimension.",
            _check_gpt_params,
            f"passed on {len(_SHAPES)} shapes, from 4 layers of width 8 to the 7B preset "
            "(6,723,084,288 parameters)",
        ),
        Exercise(
            "training_bytes",
            "Write `training_bytes(params, precision, optimizer)`: the bytes of training state "
            "(weights, gradients, an fp32 master copy in mixed precision, optimizer buffers) "
            "for `params` parameters; `precision` is 'fp32' (everything in fp32) or 'mixed' "
            "(bf16 weights and gradients, fp32 master weights and optimizer state); "
            "`optimizer` is 'sgd' (no buffer), 'momentum' (one) or 'adam' (two). Activations "
            "are not included.",
            _check_training_bytes,
            f"passed on {len(_STATE_CASES)} cases, the 7B model in mixed precision with Adam "
            "included (16 bytes per parameter, 107.6 GB)",
        ),
        Exercise(
            "zero3_gpus",
            "Write `zero3_gpus(state_gb, activations_gb, gpu_gb)`: the fewest GPUs that train a "
            "model when ZeRO-3 / FSDP shards its training state evenly over them and each GPU "
            "also holds its own micro-batch's activations, in full; return None when the "
            "activations alone fill a GPU.",
            _check_zero3_gpus,
            f"passed on {len(_GPU_CASES)} cases: the 7B and 70B-class models on 80 GB GPUs, "
            "one that fits on one GPU, and two where activations leave no room",
        ),
    )
}
