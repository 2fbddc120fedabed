"""Notebook 06 (large models on a small machine): its checks, controls, tables, figures and
the sentences computed from its numbers.

The checks refuse settings by name before anything trains (a context window longer than the
sort sequences, more prompts than exist, a world size larger than the data). `GPTControls`
holds the training widgets. Speed verdicts follow `labkit.bench`: a ratio measured in
several interleaved rounds is called faster or slower only if every round agrees by more
than `SAME_SPEED`, otherwise a tie. Loss verdicts follow `labkit.noise`: the mean over seeds
with the spread of that mean, a tie within 2·√(σa² + σb²).

Data parallel runs are judged against rounding, not against zero, and on a training that
can show a fault: `DDP_CHECK` trains with plain SGD in fp32 without clipping. Adam divides
each gradient by √v and clipping rescales a long gradient to a fixed norm, so both take
nearly the same step when the ranks' gradients are summed instead of averaged; bf16 rounds
by up to 0.4 %, as much as a short training moves some weights. With SGD a step is
lr × gradient, so summing the gradients of w ranks is exactly a run with lr × w.
`ddp_matches` accepts the data-parallel weights when they lie as close to the one-process
weights as the same arithmetic done in one process (gradient accumulation over as many
micro-batches as there are ranks) lies to them, within `ROUNDING_FACTOR` (or
`ROUNDING_FLOOR`), and closer than `MOVED_SHARE` of how far training moved the weights.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit import noise
from labkit.bench import SAME_SPEED, speed_verdict
from labkit.data import IGNORE, Split
from labkit.models import check_gpt_shape
from labkit.optim import OPTIMIZERS
from labkit.train import PRECISIONS
from labkit.ui import BATCH_SIZES, LEARNING_RATES
from labkit.validate import ConfigError, check_bool, check_choice, check_float, check_int

WIDTHS = (8, 16, 32, 48, 64, 96, 128, 192, 256)  # the width widget's stops
HEADS = (1, 2, 4, 8)
MAX_LAYERS = 12
SCALING_WIDTHS = (8, 16, 32, 64, 128)  # the scaling study's model sizes (width; depth fixed)
CEILING_SIZE = {"cpu": 512, "cuda": 4096}  # a matmul big enough to run near the device's peak
ROUNDING_FACTOR = 4  # DDP matches if within 4x the distance rounding alone makes, or ...
ROUNDING_FLOOR = 1e-5  # ... within this: float32 rounding of weights of size ~1, a few steps
MOVED_SHARE = 0.01  # ... and in any case within 1 % of how far training moved the weights
# The data-parallel check's training: plain SGD in fp32 without clipping, where a fault shows
DDP_CHECK = {"optimizer": "sgd", "lr": 0.1, "precision": "fp32", "grad_clip": 0.0, "epochs": 2}
SCALING_MISS = 0.10  # a power law "describes" the means if it misses none by more than 10 % ...
SCALING_R2 = 0.9  # ... (nor by more than its noise) and explains 90 % of the variance of log loss
PARAMETERS = (  # the notebook's parameters, as metrics.json records them
    "n_layer", "n_head", "n_embd", "context", "length", "digits", "n_train", "n_test", "lr",
    "batch_size", "grad_accum", "optimizer", "epochs", "precision", "grad_clip", "seed",
    "threads", "scaling_seeds", "ddp", "world_size", "demos",
)  # fmt: skip


# ---- checks --------------------------------------------------------------------------------


def check_context(context: Any, length: int) -> int:
    """The model's context window: 0 means 2·length (prompt and answer, as
    `labkit.distributed` builds it); otherwise from 2·length − 1, the tokens the model reads,
    to 2·length, the longest sequence there is."""
    check_int("context", context, minimum=0)
    reads, whole = 2 * length - 1, 2 * length
    if context == 0:
        return whole
    if context < reads:
        raise ConfigError(
            f"context={context} is shorter than the sequences the model reads: 2·length − 1 = "
            f"{reads} tokens (length={length}); use at least {reads}, or 0 for {whole}"
        )
    if context > whole:
        raise ConfigError(
            f"context={context} is longer than the data: a sort sequence has 2·length = {whole} "
            f"tokens (length={length}), so positions {whole}.. would never be trained; use "
            f"{reads} to {whole}, or 0"
        )
    return context


def check_data(n_train: Any, n_test: Any, length: Any, digits: Any) -> None:
    """Enough distinct prompts for the training, validation and test sequences."""
    check_int("n_train", n_train, minimum=1)
    check_int("n_test", n_test, minimum=1)
    check_int("length", length, minimum=2)
    check_int("digits", digits, minimum=2)
    wanted, exist = n_train + 2 * n_test, digits**length
    if wanted > exist:
        raise ConfigError(
            f"n_train + 2·n_test = {wanted} distinct prompts (training, validation, test) asked "
            f"for, but digits**length = {exist} exist; lower n_train or n_test, or raise "
            "length or digits"
        )


def check_model(n_layer: Any, n_head: Any, n_embd: Any) -> None:
    """Depth from 1 to MAX_LAYERS, heads that divide the width."""
    check_gpt_shape(n_layer, n_head, n_embd)
    if n_layer > MAX_LAYERS:
        raise ConfigError(f"n_layer must be at most {MAX_LAYERS}; got {n_layer}")


def check_world_size(world_size: Any, n_train: int) -> int:
    """Processes of the data-parallel run: 2 to 8, and no more than training sequences."""
    if check_int("world_size", world_size, minimum=2) > 8:
        raise ConfigError(f"world_size must be at most 8; got {world_size}")
    if world_size > n_train:
        raise ConfigError(
            f"world_size={world_size} is larger than the data: n_train={n_train} sequences "
            "leave a rank without any; use fewer processes or more data"
        )
    return world_size


def check_runs(threads: Any, scaling_seeds: Any, ddp: Any, world_size: Any, n_train: int) -> None:
    """The notebook's run settings: threads (1 to the cores), seeds of the scaling study
    (1 to 5), and, when the data-parallel runs are on, their world size."""
    from labkit.figures.export import check_threads  # one rule for threads, as notebook 10's

    check_threads(threads)
    if check_int("scaling_seeds", scaling_seeds, minimum=1) > 5:
        raise ConfigError(f"scaling_seeds must be at most 5; got {scaling_seeds}")
    if check_bool("ddp", ddp):
        check_world_size(world_size, n_train)


def ddp_batch(batch_size: int, world_size: int) -> int:
    """The data-parallel run's global batch: batch_size rounded up to a multiple of the
    world size, so every rank's share of a batch is the same size."""
    return world_size * math.ceil(batch_size / world_size)


# ---- controls ------------------------------------------------------------------------------


class GPTControls:
    """The training widgets: width, layers, heads, batch size, learning rate, optimizer,
    precision and epochs; `values()` returns them as the notebook's parameter names."""

    def __init__(
        self,
        n_layer: int = 2,
        n_head: int = 4,
        n_embd: int = 64,
        batch_size: int = 64,
        lr: float = 3e-3,
        optimizer: str = "adam",
        precision: str = "fp32",
        epochs: int = 6,
    ) -> None:
        import ipywidgets as w

        check_model(n_layer, n_head, n_embd)
        check_int("batch_size", batch_size, minimum=1)
        check_float("lr", lr, positive=True)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("precision", precision, PRECISIONS)
        check_int("epochs", epochs, minimum=1)
        style = {"description_width": "90px"}

        def dropdown(stops: Sequence[Any], value: Any, description: str) -> Any:
            options = sorted(set(stops) | {value})  # the parameter is always a stop
            return w.Dropdown(options=options, value=value, description=description, style=style)

        self.n_embd = dropdown(WIDTHS, n_embd, "width")
        self.n_layer = w.IntSlider(value=n_layer, min=1, max=MAX_LAYERS, description="layers",
                                   style=style, continuous_update=False)  # fmt: skip
        self.n_head = dropdown(HEADS, n_head, "heads")
        self.batch_size = dropdown(BATCH_SIZES, batch_size, "batch size")
        rates = sorted(set(LEARNING_RATES) | {float(lr)})
        self.lr = w.SelectionSlider(options=[(f"{r:g}", r) for r in rates], value=float(lr),
                                    description="learning rate", style=style,
                                    continuous_update=False)  # fmt: skip
        self.optimizer = w.Dropdown(options=OPTIMIZERS, value=optimizer, description="optimizer",
                                    style=style)  # fmt: skip
        self.precision = w.Dropdown(options=PRECISIONS, value=precision, description="precision",
                                    style=style)  # fmt: skip
        self.epochs = w.IntSlider(value=epochs, min=1, max=max(30, epochs), description="epochs",
                                  style=style, continuous_update=False)  # fmt: skip
        self.box = w.HBox([
            w.VBox([self.n_embd, self.n_layer, self.n_head, self.batch_size]),
            w.VBox([self.lr, self.optimizer, self.precision, self.epochs]),
        ])  # fmt: skip

    def values(self) -> dict[str, Any]:
        return {
            "n_layer": int(self.n_layer.value),
            "n_head": int(self.n_head.value),
            "n_embd": int(self.n_embd.value),
            "batch_size": int(self.batch_size.value),
            "lr": float(self.lr.value),
            "optimizer": str(self.optimizer.value),
            "precision": str(self.precision.value),
            "epochs": int(self.epochs.value),
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)


def describe_settings(s: Mapping[str, Any]) -> str:
    """'2 layers × 64 wide, 4 heads, batch 64, lr 0.003, adam, fp32, 6 epochs'."""
    return (
        f"{s['n_layer']} layer{'s' * (s['n_layer'] > 1)} × {s['n_embd']} wide, {s['n_head']} "
        f"head{'s' * (s['n_head'] > 1)}, batch {s['batch_size']}, lr {s['lr']:g}, "
        f"{s['optimizer']}, {s['precision']}, {s['epochs']} epoch{'s' * (s['epochs'] > 1)}"
    )


# ---- the task ------------------------------------------------------------------------------


def show_sequence(x: torch.Tensor, y: torch.Tensor) -> str:
    """One training pair as text: what the model reads, and what it is scored on."""
    prompt_len = int((y == IGNORE).sum()) + 1
    seq = [*x.tolist(), int(y[-1])]
    reads = " ".join(map(str, x.tolist()))
    scored = " ".join("·" if t == IGNORE else str(t) for t in y.tolist())
    return (
        f"{' '.join(map(str, seq[:prompt_len]))} → {' '.join(map(str, seq[prompt_len:]))}\n"
        f"  reads   x = {reads}\n  targets y = {scored}   (· = not scored)"
    )


def sample_sorts(model: torch.nn.Module, split: Split, n: int = 4) -> list[str]:
    """The model's greedy answers to the first n prompts of `split`, marked right or wrong."""
    answer = int((split.y[0] != IGNORE).sum())
    prompt_len = split.x.shape[1] + 1 - answer
    device = next(model.parameters()).device
    prompts = split.x[:n, :prompt_len]
    out = model.generate(prompts.to(device), answer)[:, prompt_len:].cpu()
    lines = []
    for prompt, got, want in zip(prompts, out, split.y[:n, prompt_len - 1 :], strict=True):
        mark = "✓" if torch.equal(got, want) else f"✗ (sorted: {' '.join(map(str, want.tolist()))})"
        lines.append(f"{' '.join(map(str, prompt.tolist()))} → "
                     f"{' '.join(map(str, got.tolist()))}  {mark}")  # fmt: skip
    return lines


def last_attention_input(model: Any, idx: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """The last block's attention layer of a TinyGPT and its input for the token ids idx:
    the embeddings through every block but the last, then that block's first LayerNorm."""
    h = model.tokens(idx) + model.positions(torch.arange(idx.shape[1], device=idx.device))
    for block in model.blocks[:-1]:
        h = block(h)
    return model.blocks[-1].attn, model.blocks[-1].norm1(h)


def attention_sentence(weights: torch.Tensor, length: int) -> tuple[float, str]:
    """The share of attention the answer-predicting positions (length − 1 onward) put on
    the prompt's `length` tokens, against an even spread over the tokens each may see."""
    t = weights.shape[-1]
    share = weights[..., length - 1 :, :length].sum(-1).mean().item()
    even = statistics.fmean(min(1.0, length / (i + 1)) for i in range(length - 1, t))
    return share, (
        f"answer positions put {share:.0%} of their attention on the prompt digits in the last "
        f"block (spread evenly over what they may see, it would be {even:.0%})"
    )


# ---- counting ------------------------------------------------------------------------------


def model_components(model: Any) -> dict[str, int]:
    """A TinyGPT's parameters counted module by module, under `scale.gpt_parameters`' keys."""

    def count(*modules: torch.nn.Module) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    blocks = model.blocks
    parts = {
        "token_embedding": count(model.tokens),
        "position_embedding": count(model.positions),
        "attention": count(*(b.attn for b in blocks)),
        "mlp": count(*(b.mlp for b in blocks)),
        "layer_norms": count(model.norm, *(b.norm1 for b in blocks), *(b.norm2 for b in blocks)),
        "head": count(model.head),
    }
    parts["total"] = sum(parts.values())
    parts["non_embedding"] = parts["total"] - parts["token_embedding"] - parts["position_embedding"]
    return parts


FORMULAS = {  # d = n_embd, V = vocab, T = context, L = n_layer
    "token_embedding": "V·d",
    "position_embedding": "T·d",
    "attention": "L·(4d² + 4d)",
    "mlp": "L·(8d² + 5d)",
    "layer_norms": "(2L + 1)·2d",
    "head": "d·V",
    "total": "",
    "non_embedding": "total − embeddings",
}


def side_by_side(left: Mapping[str, int], right: Mapping[str, int], names: Sequence[str],
                 formulas: Mapping[str, str] | None = None) -> Any:  # fmt: skip
    """A table of two counts per part (e.g. formula and model), with their difference."""
    import pandas as pd

    a, b = names
    table = pd.DataFrame({a: pd.Series(left), b: pd.Series(right)}).fillna(0).astype(int)
    table["difference"] = table[b] - table[a]
    if formulas is not None:
        table.insert(0, "formula", [formulas.get(k, "") for k in table.index])
    return table


def flops_sentence(flops: Mapping[str, int], counted: float, no_matmul: int, n: int) -> str:
    """The formula's FLOPs per token against torch's count, and why they differ."""
    return (
        f"training FLOPs per token: 6·N = {flops['dense']:,} + attention 12·L·d·T = "
        f"{flops['attention']:,} = {flops['total']:,}; FlopCounterMode counted {counted:,.0f} "
        f"over {n} sequences: {flops['total'] - counted:,.0f} fewer = 6 × {no_matmul:,} biases "
        "and LayerNorm weights, which do no matmul"
    )


def activation_sentence(saved: int, estimate: Mapping[int, int], precision: str, n: int) -> str:
    """Measured activation bytes against `scale.activation_bytes` at 4 and 2 bytes a value."""
    head = (f"activations saved for backward, one micro-batch of {n} in {precision}: measured "
            f"{human_bytes(saved)}; estimated {human_bytes(estimate[4])} at 4 bytes per value, "
            f"{human_bytes(estimate[2])} at 2: ")  # fmt: skip
    if precision == "fp32":
        return head + f"the fp32 estimate is {saved / estimate[4] - 1:+.1%} off"
    return head + ("autocast keeps the residual stream and LayerNorms in fp32 and saves bf16 "
                   "copies of the weights, so it saves more than 2 bytes a value")  # fmt: skip


def mfu_sentence(tokens_per_s: float, flops: int, ceilings: Mapping[str, float],
                 threads: int, device: str) -> tuple[float, float, str]:  # fmt: skip
    """MFU against the fastest of the measured matmul rates `ceilings` ({precision: FLOP/s}:
    the peak of what the run may use), and the sentence: (mfu, ceiling, sentence)."""
    best = max(ceilings, key=ceilings.get)
    ceiling = ceilings[best]
    mfu = tokens_per_s * flops / ceiling
    rates = ", ".join(f"{p} {c / 1e9:.1f}" for p, c in ceilings.items())
    if not tokens_per_s:
        return mfu, ceiling, "no epoch finished: no throughput to measure"
    return (
        mfu,
        ceiling,
        (
            f"{tokens_per_s:,.0f} tokens/s × {flops:,} FLOPs per token = "
            f"{tokens_per_s * flops / 1e9:.2f} GFLOP/s against the peak measured here, {best} "
            f"matmuls at {ceiling / 1e9:.1f} GFLOP/s (GFLOP/s: {rates}; {threads} "
            f"thread{'s' * (threads > 1)}, {device}): MFU {mfu:.1%}"
        ),
    )


def human_bytes(n: float) -> str:
    """Bytes in decimal units, as GPU makers count: '12.3 kB', '107.6 GB'."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fits_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """`scale.what_fits` as a table, one row per model and use."""
    import pandas as pd

    table = pd.DataFrame(rows).set_index(["model", "use"])
    table["params"] = table["params"].map(lambda n: f"{n / 1e9:.1f}B")
    return table.round({"state_gb": 1, "activations_gb": 2, "total_gb": 1})


def sharding_lines(rows: Sequence[Mapping[str, Any]], gpu_gb: float = 80.0) -> list[str]:
    """What DDP and ZeRO-3 / FSDP mean for each model's training row of `scale.what_fits`."""
    lines = []
    for r in rows:
        if not r["use"].startswith("train"):
            continue
        state, act, gpus = r["state_gb"], r["activations_gb"], r["gpus"]
        ddp = ("fits: DDP can train it, each GPU holding the whole state"
               if r["fits_one_gpu"] else
               f"does not fit one {gpu_gb:g} GB GPU, so DDP, which keeps the whole state on "
               "every GPU, cannot train it on any number of them")  # fmt: skip
        line = f"{r['model']} ({r['params'] / 1e9:.1f}B parameters): {state:.1f} GB of state + " \
               f"{act:.2f} GB of activations {ddp}"  # fmt: skip
        if gpus is not None and not r["fits_one_gpu"]:
            line += (f"; ZeRO-3 / FSDP shards the state: {gpus} GPUs hold {state / gpus:.1f} GB "
                     f"each plus their own activations")  # fmt: skip
        lines.append(line)
    return lines


# ---- verdicts ------------------------------------------------------------------------------


def ratio_sentence(name: str, baseline: str, ratios: Sequence[float], what: str = "faster",
                   unit: str = "round") -> str:  # fmt: skip
    """One line for rates measured in interleaved rounds: ratios are name's rate / the
    baseline's (> 1: name is faster). The median, the range over the rounds in the
    direction of the words, and a tie unless every round agrees beyond SAME_SPEED."""
    median = float(np.median(ratios))
    low, high = min(ratios), max(ratios)
    rounds = f"over {len(ratios)} {unit}{'s' * (len(ratios) > 1)}"
    if speed_verdict(ratios) == "tie":
        return (f"{name} vs {baseline}: {median:.2f}× ({low:.2f}–{high:.2f}× {rounds}): a tie, the "
                f"{unit}s disagree or differ by less than {SAME_SPEED:.0%}")  # fmt: skip
    slower = {"faster": "slower", "more": "less"}.get(what, f"not {what}")
    if median >= 1:
        return f"{name} is {median:.2f}× {what} than {baseline} ({low:.2f}–{high:.2f}× {rounds})"
    return (f"{name} is {1 / median:.2f}× {slower} than {baseline} "
            f"({1 / high:.2f}–{1 / low:.2f}× {rounds})")  # fmt: skip


def mean_spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean, std over the values (nan for one) and the spread of the mean, std/√k."""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return mean, std, std / math.sqrt(len(values))


def loss_comparison(name: str, losses: Sequence[float], baseline: str,
                    base_losses: Sequence[float]) -> tuple[noise.Verdict, str]:  # fmt: skip
    """Mean loss over seeds against a baseline's: the verdict and a sentence with the noise
    band (2·√(σa² + σb²) of the two means; with one seed the noise is unknown: a tie)."""
    a, _, ea = mean_spread(losses)
    b, _, eb = mean_spread(base_losses)
    band = noise.difference_band(ea, eb)
    said = noise.verdict(a - b, band)
    shown = "unknown with one seed" if math.isnan(band) else f"±{band:.4f}"
    words = {"tie": "a tie", "higher": f"{name} higher", "lower": f"{name} lower"}[said]
    return said, (f"{name} {a:.4f} vs {baseline} {b:.4f} (mean over {len(losses)} seed"
                  f"{'s' * (len(losses) > 1)}): {a - b:+.4f}, noise {shown}: {words}")  # fmt: skip


def accumulation_lines(
    runs: Mapping[int, tuple[Mapping[str, torch.Tensor], float]],
    batch: int,
    init: Mapping[str, torch.Tensor],
    grad_accum: int = 1,
) -> list[str]:
    """One line per accumulation run {k: (final weights, final loss)}, where each of the
    step's `grad_accum` batches of `batch` was split into k micro-batches: its loss and its
    largest weight difference from the run with k = 1 (and the tensor it is in), against how
    far training moved the weights from `init`."""
    base = runs[1][0]
    moved = max(weight_differences(base, init).values())
    lines = []
    for k, (weights, loss) in runs.items():
        name, most = next(iter(weight_differences(weights, base).items()))
        gap = "the reference" if k == 1 else (
            f"weights at most {most:.1e} from {grad_accum} × {batch} (in {name})")  # fmt: skip
        lines.append(f"{k * grad_accum} × {batch // k:>3} per step: final training loss "
                     f"{loss:.5f}, {gap}")  # fmt: skip
    return [*lines, f"(training itself moved the weights by up to {moved:.2g})"]


# ---- data parallel -------------------------------------------------------------------------


def weight_differences(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> dict:
    """max |a − b| per tensor, largest first; each attention's qkv bias is split into its
    query, key and value parts, since the key bias has a gradient of exactly zero in exact
    arithmetic (softmax ignores a constant added to a query's scores)."""
    diffs = {}
    for name, t in a.items():
        d = (t.float() - b[name].float()).abs()
        if name.endswith("qkv.bias"):
            for part, chunk in zip(("queries", "keys", "values"), d.chunk(3), strict=True):
                diffs[f"{name} ({part})"] = float(chunk.max())
        else:
            diffs[name] = float(d.max()) if d.numel() else 0.0
    return dict(sorted(diffs.items(), key=lambda kv: -kv[1]))


def key_bias_effect(model: Any, idx: torch.Tensor) -> float:
    """The largest change of a TinyGPT's logits on `idx` when every key bias is set to zero
    (on a copy): rounding only, since softmax ignores a constant added to a query's scores."""
    import copy

    zeroed = copy.deepcopy(model).eval()
    with torch.no_grad():
        for block in zeroed.blocks:
            d = block.attn.proj.in_features
            block.attn.qkv.bias[d : 2 * d] = 0.0
        return float((zeroed(idx) - model.eval()(idx)).abs().max())


def ddp_matches(distance: float, rounding: float, moved: float) -> bool:
    """Whether a data-parallel run's largest weight difference from the one-process run is
    rounding: within ROUNDING_FACTOR × the distance the same arithmetic in one process made
    (`rounding`), or within ROUNDING_FLOOR, and below MOVED_SHARE of `moved`, how far
    training moved the weights (a tolerance as large as training's own movement would
    accept even the untrained weights)."""
    within_rounding = distance <= max(ROUNDING_FACTOR * rounding, ROUNDING_FLOOR)
    return within_rounding and distance < MOVED_SHARE * moved


def ddp_report(one: Mapping[str, Any], many: Mapping[str, Any], diffs: Mapping[str, float],
               rounding: float, moved: float, wrong: float, backend: str) -> list[str]:  # fmt: skip
    """What the data-parallel check found: `one` and `many` are the metrics.json of the
    one-process and the data-parallel run, `diffs` their weight differences
    (`weight_differences`), `rounding` the same arithmetic's distance in one process, `moved`
    how far training moved the weights, and `wrong` the distance of the deliberately wrong
    run (the ranks' gradients summed: SGD with lr × world) from the one-process run."""
    world, distance = many["world_size"], max(diffs.values())
    clip = f"clipped at {one['grad_clip']:g}" if one["grad_clip"] else "no clipping"

    def verdict(d: float) -> str:
        return "they match, up to rounding" if ddp_matches(d, rounding, moved) else (
            "they do NOT match")  # fmt: skip

    return [
        f"{world} ranks ({backend}) vs 1 process, global batch {one['batch_size']}, "
        f"{one['epochs']} epoch{'s' * (one['epochs'] > 1)}, {one['optimizer']} lr "
        f"{one['lr']:g}, {one['precision']}, {clip}: final loss {many['final_loss']:.5f} vs "
        f"{one['final_loss']:.5f}; weights at most {distance:.1e} apart, the same arithmetic in "
        f"one process {rounding:.1e}, training moved them by up to {moved:.2g} "
        f"({distance / moved:.1e} of that): " + verdict(distance),
        "largest differences: " + ", ".join(f"{k} {v:.1e}" for k, v in list(diffs.items())[:3]),
        f"a deliberately wrong run, the {world} ranks' gradients summed instead of averaged "
        f"(for SGD exactly lr × {world}): weights {wrong:.1e} from the 1-process run "
        f"({wrong / moved:.0%} of training's movement): " + verdict(wrong),
    ]


def ddp_time_lines(a: Sequence[float], b: Sequence[float], world: int, wall: float,
                   cores: int | None = None) -> list[str]:  # fmt: skip
    """The seconds of each epoch of the one-process run (`a`) and of the `world`-process run
    (`b`), training only (`labkit.distributed.epoch_seconds`), with a verdict over the epochs
    as `ratio_sentence` gives it; `wall` is the whole torchrun launch, start-up included."""
    ratios = [x / y for x, y in zip(a, b, strict=True)]  # > 1: the ranks were faster

    def listed(seconds: Sequence[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in seconds) + " s"

    cores = cores or os.cpu_count() or 1
    return [
        f"seconds per epoch, training only: 1 process {listed(a)}; {world} processes "
        f"{listed(b)} (each process 1 thread, on {cores} core{'s' * (cores > 1)} shared with "
        f"other work; the epochs ran one run after the other, not interleaved)",
        ratio_sentence(f"the {world}-process run", "the 1-process run", ratios, unit="epoch"),
        f"the torchrun launch took {wall:.1f} s in all, {wall - sum(b):.1f} s of it not counted "
        "above: the start-up (Python, imports, the process group, the first optimizer) and the "
        "end (the held-out score, saving)",
    ]


def torchrun_command(settings: Mapping[str, Any], nnodes: int = 2, nproc: int = 8) -> str:
    """The same run on `nnodes` machines of `nproc` GPUs each, meeting at HOST."""
    options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in settings.items())
    return (
        f"torchrun --nnodes {nnodes} --nproc-per-node {nproc} --rdzv-backend c10d \\\n"
        f"    --rdzv-endpoint HOST:29500 --rdzv-id sort -m labkit.distributed \\\n"
        f"    --out-dir runs/ddp {options}"
    )


@contextlib.contextmanager
def gpus_for(world_size: int) -> Iterator[str]:
    """Hide the GPUs from subprocesses started inside (CUDA_VISIBLE_DEVICES='') when there
    are fewer than `world_size` of them: each rank needs a GPU of its own for nccl, so the
    run falls back to gloo on the CPU. Yields the backend the ranks will use."""
    enough = torch.cuda.is_available() and torch.cuda.device_count() >= world_size
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not enough and torch.cuda.is_available():
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    try:
        yield "nccl (one GPU per rank)" if enough else "gloo (CPU)"
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


# ---- figures -------------------------------------------------------------------------------


def attention_figure(weights: torch.Tensor, tokens: Sequence[int], layer: int) -> Figure:
    """One sequence's attention weights (heads, T, T), averaged over heads, beside the
    causal mask: a query (row) sees itself and the keys before it."""
    fig = Figure(figsize=(8.5, 3.6), dpi=80)
    fig.subplots_adjust(left=0.07, right=0.97, bottom=0.16, top=0.86, wspace=0.35)
    ax_w, ax_m = fig.subplots(1, 2)
    t = weights.shape[-1]
    labels = [str(v) for v in tokens[:t]]
    image = ax_w.imshow(weights.float().mean(0).cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax_w, fraction=0.046)
    ax_w.set_title(f"trained model, block {layer}: attention (mean over heads)", fontsize=9)
    ax_m.imshow(np.tril(np.ones((t, t))), cmap="Greys", vmin=0, vmax=1.5)
    ax_m.set_title("causal mask: what each query may see", fontsize=9)
    for ax in (ax_w, ax_m):
        ax.set_xticks(range(t), labels, fontsize=7)
        ax.set_yticks(range(t), labels, fontsize=7)
        ax.set(xlabel="key (token read)", ylabel="query (position)")
    return fig


def memory_figure(parts: Mapping[str, Mapping[str, float]], gpu_gb: float = 80.0) -> Figure:
    """Stacked bars of GB per model (e.g. {'7B': {'weights': …, 'activations': …}}), with a
    line at one GPU's memory."""
    fig = Figure(figsize=(7, 3.2), dpi=80)
    fig.subplots_adjust(left=0.22, right=0.97, bottom=0.17, top=0.88)
    ax = fig.subplots()
    names = list(parts)
    kinds = list(next(iter(parts.values())))
    left = np.zeros(len(names))
    for i, kind in enumerate(kinds):
        widths = np.array([parts[n][kind] for n in names])
        ax.barh(names, widths, left=left, color=f"C{i}", label=kind)
        left += widths
    ax.axvline(gpu_gb, color="k", linestyle="--", label=f"one {gpu_gb:g} GB GPU")
    ax.set_xscale("log")
    ax.set(xlabel="GB (log scale)")
    ax.set_title("training with Adam in mixed precision, micro-batch 1, checkpointing", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def scaling_figure(params: Sequence[int], losses: Sequence[Sequence[float]], tokens: int) -> Figure:
    """Validation loss against parameters on log axes: each seed a dot, the mean a line,
    and the power law fitted to the means, labelled with how far it misses them."""
    fig = Figure(figsize=(6, 3.6), dpi=80)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.15, top=0.88)
    ax = fig.subplots()
    fit = power_law_fit(params, losses)
    for n, values in zip(params, losses, strict=True):
        ax.scatter([n] * len(values), values, color="C0", s=14, alpha=0.6)
    ax.plot(params, fit["means"], color="C0", marker="o", label="mean over seeds")
    grid = np.geomspace(min(params), max(params), 50)
    ax.plot(grid, np.exp(fit["intercept"]) * grid ** fit["slope"], color="C1", linestyle="--",
            label=f"least-squares power law N^{fit['slope']:.2f}: misses a mean by up to "
            f"{fit['miss']:.2f}×")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="parameters N (log)", ylabel="val loss (log)")
    ax.set_title(f"the same {tokens:,} training tokens for every size", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def power_law(params: Sequence[int], losses: Sequence[float]) -> tuple[float, float]:
    """The least-squares line through (log N, log loss): (slope, intercept)."""
    slope, intercept = np.polyfit(np.log(params), np.log(losses), 1)
    return float(slope), float(intercept)


def power_law_fit(params: Sequence[int], losses: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The power law fitted to the mean losses (one list of seeds' losses per size), and how
    well it fits: the log-space residuals, R² in log space, the largest miss as a factor,
    the exponent fitted to each seed alone (seed i is the i-th loss of every size), and
    whether the line describes the means: none missed by more than SCALING_MISS and by more
    than twice that mean's spread over seeds (with one seed the spread is unknown, and only
    SCALING_MISS counts), and R² at least SCALING_R2 (losses that barely change lie within
    10 % of any flat line)."""
    means = [statistics.fmean(v) for v in losses]
    slope, intercept = power_law(params, means)
    logs = np.log(means)
    residuals = logs - (intercept + slope * np.log(params))
    spread = np.sum((logs - logs.mean()) ** 2)
    r2 = 1 - float(np.sum(residuals**2) / spread) if spread > 0 else 1.0
    noise_log = [2 * mean_spread(v)[2] / m if len(v) > 1 else 0.0
                 for v, m in zip(losses, means, strict=True)]  # fmt: skip
    missed = [i for i, r in enumerate(residuals)
              if abs(r) > max(math.log1p(SCALING_MISS), noise_log[i])]  # fmt: skip
    seeds = min(len(v) for v in losses)
    per_seed = [power_law(params, [v[i] for v in losses])[0] for i in range(seeds)]
    worst = int(np.argmax(np.abs(residuals)))
    return {
        "slope": slope, "intercept": intercept, "means": means,
        "residuals": [float(r) for r in residuals], "r2": r2,
        "miss": math.exp(abs(float(residuals[worst]))), "worst": worst,
        "per_seed": per_seed, "missed": missed, "describes": not missed and r2 >= SCALING_R2,
    }  # fmt: skip


def scaling_sentence(params: Sequence[int], losses: Sequence[Sequence[float]]) -> str:
    """The fitted exponent with its spread over seeds and how well the line fits (a power
    law at this budget or not), and whether the largest model ended lower than the smallest
    beyond the noise of the seeds."""
    fit = power_law_fit(params, losses)
    if len(fit["per_seed"]) > 1:
        seeds = (f" (fitted to each seed alone: {min(fit['per_seed']):.2f} to "
                 f"{max(fit['per_seed']):.2f})")  # fmt: skip
    else:
        seeds = " (one seed: no spread)"
    worst = fit["worst"]
    above = "above" if fit["residuals"][worst] > 0 else "below"
    why = [f"it misses {len(fit['missed'])} of the means by more than 10 % and their spread "
           "over seeds"] if fit["missed"] else []  # fmt: skip
    if fit["r2"] < SCALING_R2:
        why.append(f"it explains only {fit['r2']:.0%} of the variance of log loss")
    shape = (
        "a power law describes these sizes at this budget, within 10 % and the seeds' noise"
        if fit["describes"] else "not a power law at this budget: " + " and ".join(why)
    )  # fmt: skip
    said, line = loss_comparison("the largest", losses[-1], "the smallest", losses[0])
    trend = {
        "lower": "more parameters bought a lower loss for the same tokens",
        "higher": "the largest model ended higher: at this budget it has not caught up",
        "tie": "at this budget the sizes are not told apart",
    }[said]
    return (
        f"least-squares fit to the means: loss ∝ N^{fit['slope']:.2f}{seeds}, R² {fit['r2']:.2f} "
        f"in log space; the mean at {params[worst]:,} parameters lies {fit['miss']:.2f}× "
        f"{above} the line: {shape}.\nValidation loss of the largest model "
        f"({params[-1]:,} parameters) against the smallest ({params[0]:,}): {line}: {trend}"
    )
