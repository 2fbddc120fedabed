"""Pruning: zero the smallest weights (unstructured) or remove whole units (structured).

Unstructured pruning uses `torch.nn.utils.prune`: each pruned layer keeps `weight_orig`
and a 0/1 `weight_mask`, and its `weight` is their product, recomputed before every
forward, so the masks stay inspectable and fine-tuning cannot revive a pruned weight.
`make_permanent_` folds the masks in. Masks save nothing and speed nothing up on a CPU: the
matmul is as dense as before (and the state_dict holds two tensors per layer).

Structured pruning (`prune_units`) ranks the hidden units (MLP) or channels (CNN) by the
norm of their incoming weights and returns a genuinely smaller dense model of the same
class, with the next layer's inputs cut to match: fewer multiply-adds, really faster.
`sparse_predictor` runs an MLP's pruned weights as compressed sparse rows with sparse
kernels instead: the other way zeros can pay, at high sparsity and on large batches.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune

from labkit.data import Split
from labkit.models import MLP, SmallCNN, check_rows
from labkit.train import History, TrainConfig, fit
from labkit.validate import ConfigError, check_choice, check_float, check_int

PRUNABLE = (nn.Linear, nn.Conv2d)
SCOPES = ("layer", "global")


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers whose weights pruning may touch (Linear and Conv2d), by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, PRUNABLE)}


def widths(model: nn.Module) -> Sequence[int]:
    """The output widths of the prunable layers, in order (e.g. [1024, 1024, 10])."""
    return [m.weight.shape[0] for m in prunable_layers(model).values()]


def check_sparsity(sparsity: float, name: str = "sparsity", *, of: str = "weights") -> float:
    """A fraction in [0, 1) of `of` (weights, or units): 0 prunes nothing; 1 would remove
    every one."""
    check_float(name, sparsity, minimum=0.0)
    if sparsity >= 1:
        raise ConfigError(f"{name} must be in [0, 1) (a fraction of {of}); got {sparsity!r}")
    return float(sparsity)


def magnitude_prune_(
    model: nn.Module,
    sparsity: float,
    *,
    scope: Literal["layer", "global"] = "layer",
    layers: Iterable[str] | None = None,
) -> nn.Module:
    """Zero the `sparsity` fraction of smallest-magnitude weights, in place, with masks.

    scope 'layer' prunes that fraction of every layer; 'global' ranks all the chosen
    layers' weights together (layers with many small weights lose more). `layers` names the
    layers to prune (default: every Linear and Conv2d; biases are never pruned). Pruning a
    model that already has masks starts from its current weights, so the zeros it holds
    stay zero and the result has exactly the sparsity asked for.
    """
    check_sparsity(sparsity)
    check_choice("scope", scope, SCOPES)
    chosen = _chosen_layers(model, layers)
    make_permanent_(model)  # start from the effective weights; old zeros rank lowest
    if scope == "layer":
        for module in chosen.values():
            prune.l1_unstructured(module, "weight", amount=_count(module.weight, sparsity))
    else:
        total = sum(m.weight.numel() for m in chosen.values())
        prune.global_unstructured(
            [(m, "weight") for m in chosen.values()],
            pruning_method=prune.L1Unstructured,
            amount=round(sparsity * total),
        )
    return model


def make_permanent_(model: nn.Module) -> nn.Module:
    """Fold every mask into its weight (`prune.remove`): plain tensors again, zeros kept."""
    for module in prunable_layers(model).values():
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
    return model


def sparsity_report(model: nn.Module) -> pd.DataFrame:
    """One row per prunable layer, then 'overall': weights, zeros, and their fraction."""
    rows = []
    for name, module in prunable_layers(model).items():
        w = module.weight.detach()
        rows.append({"layer": name, "weights": w.numel(), "zeros": int((w == 0).sum())})
    rows.append(
        {
            "layer": "overall",
            "weights": sum(r["weights"] for r in rows),
            "zeros": sum(r["zeros"] for r in rows),
        }
    )
    table = pd.DataFrame(rows)
    table["sparsity"] = table.zeros / table.weights
    return table


def sparsity(model: nn.Module) -> float:
    """The fraction of prunable weights that are exactly zero."""
    return float(sparsity_report(model).iloc[-1].sparsity)


def sparse_bytes(model: nn.Module) -> int:
    """Bytes the prunable weights take in compressed sparse row form (fp32 values, int64
    column indices and row pointers, as `torch.Tensor.to_sparse_csr` holds them) plus every
    other parameter dense: the payload of storing only the non-zeros, without a file's
    bookkeeping (`csr_checkpoint_bytes` counts the file)."""
    total = 0
    for name, t in csr_state_dict(model).items():
        if t.layout == torch.sparse_csr:
            parts = (t.values(), t.col_indices(), t.crow_indices())
            total += sum(p.numel() * p.element_size() for p in parts)
        elif name.rsplit(".", 1)[-1] != "weight_mask":
            total += t.numel() * t.element_size()  # biases (and any buffer) stay dense
    return total


def csr_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's effective state (masks applied and left out) with every prunable layer's
    weight as a sparse CSR tensor, (out, rest) for a conv: what a sparse checkpoint holds.
    `tensor.to_dense().reshape(layer.weight.shape)` gives each weight back."""
    prunable = {f"{name}.weight": m for name, m in prunable_layers(model).items()}
    state: dict[str, torch.Tensor] = {}
    for key, t in model.state_dict().items():
        base = key.removesuffix("_orig")
        if key.endswith("weight_mask") or base in state:
            continue
        if base in prunable:
            w = prunable[base].weight.detach()  # the effective weight, masks applied
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                csr = w.reshape(w.shape[0], -1).to_sparse_csr()
                # compact copies: to_sparse_csr's column indices can be a view into a larger
                # buffer, which torch.save would write whole
                parts = (csr.crow_indices(), csr.col_indices(), csr.values())
                state[base] = torch.sparse_csr_tensor(*(t.clone() for t in parts), csr.shape)
        else:
            state[key] = t
    return state


def csr_checkpoint_bytes(model: nn.Module) -> int:
    """Bytes of `torch.save(csr_state_dict(model))`: a sparse checkpoint's size on disk,
    measured the way `labkit.bench.state_dict_bytes` measures a dense one."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        torch.save(csr_state_dict(model), buffer)
    return buffer.getbuffer().nbytes


def sparse_predictor(model: MLP) -> Callable[[torch.Tensor], torch.Tensor]:
    """An MLP as a function that multiplies by its weights stored as compressed sparse rows
    (`torch.sparse.mm`), skipping the zeros: the same outputs as `model` (to float rounding),
    computed in eval mode without autograd. It holds a snapshot of the weights as they are
    now (masks applied), so train or prune again and build a new one."""
    if not isinstance(model, MLP):
        raise TypeError(f"sparse_predictor works on labkit's MLP; got {type(model).__name__}")
    model.eval()
    steps: list[tuple[torch.Tensor, torch.Tensor] | nn.Module] = []
    for layer in model.net:
        if isinstance(layer, nn.Linear):
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                weight = layer.weight.detach().to_sparse_csr()  # (out, in)
            steps.append((weight, layer.bias.detach()[:, None]))  # bias (out, 1)
        else:
            steps.append(layer)  # an activation (or dropout, off in eval): elementwise

    @torch.inference_mode()
    def run(x: torch.Tensor) -> torch.Tensor:
        check_rows(model, x, model.hparams["in_features"])
        h = x.T  # (F, B): sparse @ dense keeps the sparse matrix on the left
        for step in steps:
            h = torch.sparse.mm(step[0], h) + step[1] if isinstance(step, tuple) else step(h)
        return h.T  # (B, classes)

    return run


def prune_units(model: nn.Module, fraction: float, *, norm: Literal[1, 2] = 2) -> nn.Module:
    """A smaller copy of `model` without the `fraction` of hidden units (MLP) or channels
    and head units (SmallCNN) whose incoming weights have the smallest L1 or L2 norm.

    The copy is the same class with narrower widths, so it trains, saves, loads and exports
    like any labkit model; the next layer keeps only the inputs that still exist. At least
    one unit survives in every layer. `fraction=0` returns an exact copy.
    """
    check_sparsity(fraction, "fraction", of="units")
    check_choice("norm", norm, (1, 2))
    make_permanent_(model)
    if isinstance(model, MLP):
        return _prune_mlp(model, fraction, norm)
    if isinstance(model, SmallCNN):
        return _prune_cnn(model, fraction, norm)
    raise TypeError(f"prune_units works on labkit's MLP and SmallCNN; got {type(model).__name__}")


def gradual_schedule(final: float, steps: int) -> list[float]:
    """Sparsity after each of `steps` pruning steps, rising fast then slowly to `final`
    (Zhu & Gupta 2017: s_i = final · (1 − (1 − i/steps)³)): prune while there is much to
    lose, then let fine-tuning recover as the last weights go."""
    check_sparsity(final, "final sparsity")
    check_int("steps", steps, minimum=1)
    return [final * (1 - (1 - i / steps) ** 3) for i in range(1, steps + 1)]


def prune_and_finetune(
    model: nn.Module,
    train: Split,
    final_sparsity: float,
    config: TrainConfig,
    *,
    steps: int = 3,
    scope: Literal["layer", "global"] = "global",
    val: Split | None = None,
    on_step: Callable[[int, float, History], object] | None = None,
) -> list[History]:
    """Prune gradually to `final_sparsity` in `steps` steps (`gradual_schedule`), training
    `config.epochs` epochs with `labkit.fit` after each step, masks kept so pruned weights
    stay zero. Ends with the masks made permanent. `on_step(step, sparsity, history)` is
    called after each step's fine-tuning. Returns each step's history."""
    histories = []
    for step, target in enumerate(gradual_schedule(final_sparsity, steps), start=1):
        magnitude_prune_(model, target, scope=scope)
        history = fit(model, train, config, val=val, show_progress=False)
        histories.append(history)
        if on_step is not None:
            on_step(step, target, history)
    make_permanent_(model)
    return histories


def _chosen_layers(model: nn.Module, layers: Iterable[str] | None) -> dict[str, nn.Module]:
    found = prunable_layers(model)
    if layers is None:
        return found
    layers = list(layers)
    unknown = [name for name in layers if name not in found]
    if unknown or not layers:
        raise ConfigError(
            f"layers must name prunable layers of this model ({', '.join(found)}); "
            f"got {unknown or layers}"
        )
    return {name: found[name] for name in layers}


def _count(weight: torch.Tensor, fraction: float) -> int:
    return round(fraction * weight.numel())


def _keep(weight: torch.Tensor, fraction: float, norm: int) -> torch.Tensor:
    """Indices (sorted) of the output units to keep: the largest incoming-weight norms."""
    scores = weight.detach().reshape(len(weight), -1).norm(p=norm, dim=1)
    keep = max(1, len(weight) - round(fraction * len(weight)))
    return scores.topk(keep).indices.sort().values


def _sliced(layer: nn.Module, rows: torch.Tensor | None, cols: torch.Tensor | None) -> dict:
    """The layer's weight and bias with only `rows` outputs and `cols` inputs kept."""
    w, b = layer.weight.detach(), layer.bias.detach()
    if rows is not None:
        w, b = w[rows], b[rows]
    if cols is not None:
        w = w[:, cols]
    return {"weight": w.clone(), "bias": b.clone()}


def _load(layer: nn.Module, state: dict) -> None:
    with torch.no_grad():
        layer.weight.copy_(state["weight"])
        layer.bias.copy_(state["bias"])


def _prune_mlp(model: MLP, fraction: float, norm: int) -> MLP:
    linears = [m for m in model.net if isinstance(m, nn.Linear)]  # hidden..., classifier
    kept, states, cols = [], [], None
    for layer in linears[:-1]:
        rows = _keep(layer.weight, fraction, norm)
        states.append(_sliced(layer, rows, cols))
        kept.append(len(rows))
        cols = rows
    states.append(_sliced(linears[-1], None, cols))
    small = MLP(**{**model.hparams, "hidden": tuple(kept)})
    for layer, state in zip(
        [m for m in small.net if isinstance(m, nn.Linear)], states, strict=True
    ):
        _load(layer, state)
    return small.train(model.training)


def _prune_cnn(model: SmallCNN, fraction: float, norm: int) -> SmallCNN:
    conv1, conv2 = model.features[0], model.features[2]
    fc1, fc2 = model.head[1], model.head[4]
    keep1 = _keep(conv1.weight, fraction, norm)
    keep2 = _keep(conv2.weight, fraction, norm)
    keep_h = _keep(fc1.weight, fraction, norm)
    area = (model.image_size // 2) ** 2  # flatten is channel-major: channel c owns a block
    cols = (keep2[:, None] * area + torch.arange(area)).reshape(-1)
    small = SmallCNN(
        **{**model.hparams, "channels": (len(keep1), len(keep2)), "hidden": len(keep_h)}
    )
    _load(small.features[0], _sliced(conv1, keep1, None))
    _load(small.features[2], _sliced(conv2, keep2, keep1))
    _load(small.head[1], _sliced(fc1, keep_h, cols))
    _load(small.head[4], _sliced(fc2, None, keep_h))
    return small.train(model.training)
