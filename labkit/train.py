"""One visible training loop: `fit`, `evaluate`, seeding, devices, checkpoints.

The loop in `fit` is the whole algorithm: forward, loss, backward, (clip), step,
(schedule); after each epoch it evaluates, records history, keeps the last good weights
and writes a checkpoint. Everything that varies comes in through `TrainConfig`, including
what changes at scale: bf16 autocast, gradient accumulation, activation checkpointing, and
data parallelism when torch.distributed is initialized (see `labkit.distributed`).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labkit.checkpoint import CHECKPOINT_FORMAT, load_state, save_state
from labkit.data import IGNORE, Batches, Data, Split
from labkit.optim import OPTIMIZERS, SCHEDULES, check_momentum, make_optimizer, make_scheduler
from labkit.progress import progress
from labkit.validate import ConfigError, check_choice, check_float, check_int

CHECKPOINT_NAME = "last.pt"
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PRECISIONS = ("fp32", "bf16")  # bf16: autocast the forward pass; weights stay fp32


@dataclass(frozen=True)
class TrainConfig:
    """Everything `fit` needs besides the model and data. Validated on construction."""

    lr: float = 3e-3  # base learning rate (step size), finite and > 0
    batch_size: int = 64  # examples per optimizer step, >= 1
    epochs: int = 20  # passes over the training split, >= 1
    optimizer: str = "adam"  # one of labkit.optim.OPTIMIZERS
    weight_decay: float | None = None  # L2 penalty (decoupled for adamw), >= 0; None: the
    # optimizer's standard default (0.01 for adamw, 0 for the others)
    momentum: float | None = None  # for 'momentum' and 'nesterov' only, in [0, 0.999]; None: 0.9
    schedule: str = "constant"  # one of labkit.optim.SCHEDULES, stepped every optimizer step
    warmup_steps: int = 0  # steps of linear warm-up before the schedule (>= 1 for 'warmup')
    grad_clip: float = 0.0  # clip the global gradient norm to this; 0 turns clipping off
    grad_accum: int = 1  # micro-batches of batch_size per optimizer step, >= 1: the step
    # sees grad_accum * batch_size examples, with the memory of one micro-batch
    precision: str = "fp32"  # one of PRECISIONS
    activation_checkpointing: bool = False  # recompute activations in the backward pass
    # (models with an `activation_checkpointing` attribute, e.g. TinyGPT)
    patience: int = 0  # early stopping: stop after this many epochs without a lower val loss
    # and end with the best epoch's weights; 0 turns it off (needs a val split when on)
    seed: int = 0  # seeds the shuffling and dropout inside fit
    device: str = "auto"  # 'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'

    def __post_init__(self) -> None:
        check_float("lr", self.lr, positive=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("epochs", self.epochs, minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.weight_decay is not None:
            check_float("weight_decay", self.weight_decay, minimum=0.0)
        check_momentum(self.optimizer, self.momentum)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.schedule == "warmup" and self.warmup_steps == 0:
            raise ConfigError("warmup_steps must be >= 1 with schedule 'warmup'; got 0")
        check_float("grad_clip", self.grad_clip, minimum=0.0)
        check_int("grad_accum", self.grad_accum, minimum=1)
        check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.activation_checkpointing, bool):
            got = self.activation_checkpointing
            raise ConfigError(f"activation_checkpointing must be True or False; got {got!r}")
        check_int("patience", self.patience, minimum=0)
        check_int("seed", self.seed)
        if self.device != "auto":
            parse_device(self.device)


@dataclass
class History:
    """Per-epoch records of a run; `fit` appends one row per finished epoch."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)  # empty when fit had no val split
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)  # learning rate at the end of the epoch
    seconds: list[float] = field(default_factory=list)  # wall time of the epoch
    done: bool = False  # set by fit before the last on_epoch call: no epoch follows
    best_epoch: int | None = None  # with patience: the epoch whose weights the model ends with

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, row: dict[str, float]) -> None:
        for name, value in row.items():
            getattr(self, name).append(value)

    def as_dict(self) -> dict[str, list]:
        """The per-epoch lists (what a checkpoint stores)."""
        lists = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: list(v) for name, v in lists.items() if isinstance(v, list)}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the model was put back to its last good weights.

    `history` holds the epochs that finished before it happened (possibly none).
    """

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so model initialization and sampling repeat exactly."""
    check_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def parse_device(name: Any) -> torch.device:
    """A torch device from its name, or a ConfigError saying which names are allowed."""
    try:
        return torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {name!r}"
        ) from None


def resolve_device(name: str) -> torch.device:
    """Turn a device name ('auto' included) into a usable device, or say why it is unusable."""
    if name == "auto":
        return default_device()
    device = parse_device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available; use 'auto'")
    return device


def fit(
    model: nn.Module,
    train: Split,
    config: TrainConfig,
    *,
    val: Split | None = None,
    loss_fn: LossFn = F.cross_entropy,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    on_epoch: Callable[[History], Any] | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    teacher: nn.Module | None = None,
    show_progress: bool = True,
) -> History:
    """Train `model` in place on `train` and return its history.

    With `checkpoint_dir`, the full training state (weights, optimizer, schedule, random
    generators, early-stopping state, history) is written atomically after every epoch;
    `resume=True` continues from it and ends with exactly the weights an uninterrupted run
    would have. `on_epoch(history)` is called after each epoch (e.g. a live plot);
    `history.done` is True on the last call. `augment(x)` transforms each training batch
    (e.g. `labkit.data.random_shifts`), drawing from torch's seeded generator.
    With `config.patience`, training stops once the validation loss has not improved for
    that many epochs, and the model ends with the weights of its best epoch.
    With a `teacher` (distillation, see `labkit.compress.distill`), each batch's loss is
    `loss_fn(logits, y, teacher(x))`, the teacher in eval mode without gradients, and the
    validation loss is plain cross-entropy.
    With `config.grad_accum` = k, each optimizer step sums the gradients of k micro-batches
    of `batch_size`, each weighted by its share of the step's examples: the same step as one
    batch of k·batch_size (dropout and augmentation aside). With torch.distributed
    initialized (`model` wrapped in DistributedDataParallel), each rank trains on its share
    of every batch, the recorded loss is summed over ranks, and only rank 0 writes the
    checkpoint.
    """
    _check_split("train", train)
    if val is not None:
        _check_split("val", val)
    elif config.patience:
        raise ConfigError(f"patience={config.patience} needs a val split to watch; pass val=")
    device = resolve_device(config.device)
    model.to(device)
    val_loss_fn = loss_fn
    if teacher is not None:
        teacher.to(device).eval()
        val_loss_fn = F.cross_entropy
    train = train.to(device)
    val = val.to(device) if val is not None else None
    rank, world = _rank_and_world()
    if config.batch_size < world:
        raise ConfigError(
            f"batch_size={config.batch_size} is smaller than the world size {world}: every rank "
            "needs at least one example of each batch"
        )
    batches = Batches(train, config.batch_size, seed=config.seed, shard=(rank, world))
    optimizer = make_optimizer(
        config.optimizer,
        model.parameters(),
        config.lr,
        weight_decay=config.weight_decay,
        momentum=config.momentum,
    )
    steps = config.epochs * math.ceil(len(batches) / config.grad_accum)
    scheduler = make_scheduler(config.schedule, optimizer, steps, warmup_steps=config.warmup_steps)
    torch.manual_seed(config.seed)  # dropout and augmentation: same seed, same draws
    history = History()
    best = {"epoch": None, "loss": math.inf, "model": None, "stopped": False}  # early stopping

    inner = getattr(model, "module", model)  # the model itself under DistributedDataParallel:
    # checkpoints hold its weights, so a run may resume with another number of ranks
    path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if path is not None and path.exists():
        if not resume:
            raise FileExistsError(
                f"{path} exists; pass resume=True to continue it, or use another checkpoint_dir"
            )
        state = load_checkpoint(path)
        _check_same_run(state["config"], config, path)
        done = len(state["history"]["epoch"])
        if done > config.epochs:
            raise ConfigError(
                f"{path} holds {done} finished epochs but epochs={config.epochs}: resume with "
                f"epochs >= {done}, or start a fresh checkpoint_dir"
            )
        inner.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        batches.generator.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        _extend(history, state["history"])
        best = state.get("best", best)

    good = _copy_state(model)  # weights to fall back on if the loss blows up
    if config.activation_checkpointing and not hasattr(inner, "activation_checkpointing"):
        raise ConfigError(
            f"activation_checkpointing=True needs a model that supports it (e.g. "
            f"labkit.models.TinyGPT); {type(inner).__name__} does not"
        )
    if hasattr(inner, "activation_checkpointing"):
        inner.activation_checkpointing = config.activation_checkpointing
    bf16 = config.precision == "bf16"
    autocast = torch.autocast(device.type, torch.bfloat16) if bf16 else contextlib.nullcontext()
    first = config.epochs + 1 if best["stopped"] else len(history) + 1
    bar = progress(range(first, config.epochs + 1), desc="epochs", enabled=show_progress)
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        total = torch.zeros((), device=device)  # summed on device: no sync per step
        # [(x, y), ...] micro-batches, and the rows of the step summed over all ranks
        for step, examples in _steps(batches, config.grad_accum):
            optimizer.zero_grad(set_to_none=True)
            for x, y in step:  # x (B, F) or (B, T), y (B,) or (B, T)
                if augment is not None:
                    x = augment(x)
                with autocast:
                    if teacher is not None:
                        with torch.no_grad():
                            soft = teacher(x)  # (B, classes): the teacher's logits
                    out = model(x)
                    if not len(y):  # this rank's share of a short last batch is empty:
                        loss = out.sum() * 0.0  # no gradient, but it joins DDP's all-reduce
                    else:
                        loss = loss_fn(out, y) if teacher is None else loss_fn(out, y, soft)
                # The shares sum the step's mean loss over every rank's rows (DDP then
                # averages the ranks' gradients, hence the factor world).
                share = len(y) * world / examples
                (loss if share == 1 else loss * share).backward()
                total += loss.detach() * len(y)
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        if world > 1:
            torch.distributed.all_reduce(total)  # each rank summed its share of the batches
        train_loss = (total / len(train)).item()
        if not math.isfinite(train_loss):
            model.load_state_dict(good)
            kept = f"the end of epoch {epoch - 1}" if epoch > 1 else "before training"
            raise TrainingDiverged(
                f"the training loss became {train_loss} in epoch {epoch} with lr={config.lr}; "
                f"try a lower learning rate (e.g. lr={config.lr / 10:g}). The model holds its "
                f"weights from {kept}" + (f" and {path} is untouched" if path is not None else ""),
                history,
            )
        row = {"epoch": epoch, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"]}
        if val is not None:
            scores = evaluate(model, val, val_loss_fn)
            row["val_loss"] = scores["loss"]
            row["val_accuracy"] = scores.get("accuracy", math.nan)
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        good = _copy_state(model)
        if config.patience:
            if row["val_loss"] < best["loss"]:
                best.update(epoch=epoch, loss=row["val_loss"], model=good)
            best["stopped"] = epoch - (best["epoch"] or 0) >= config.patience
        history.done = best["stopped"] or epoch == config.epochs
        if config.patience and history.done:
            model.load_state_dict(best["model"])  # end with the best epoch's weights
        bar.set_postfix(loss=f"{train_loss:.4f}")
        if path is not None and rank == 0:
            save_checkpoint(path, inner, optimizer, scheduler, batches, history, config, best)
        if on_epoch is not None:
            on_epoch(history)
        if best["stopped"]:
            break
    history.best_epoch = best["epoch"]
    return history


def _steps(
    batches: Batches, k: int
) -> Iterator[tuple[list[tuple[torch.Tensor, torch.Tensor]], int]]:
    """The micro-batches of each optimizer step, k at a time (the last step possibly fewer),
    with the step's rows summed over all ranks (a short last batch splits unevenly)."""
    step, rows = [], 0
    for batch, size in zip(batches, batches.sizes(), strict=True):
        step.append(batch)
        rows += size
        if len(step) == k:
            yield step, rows
            step, rows = [], 0
    if step:
        yield step, rows


def _rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes; (0, 1) outside torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Split, loss_fn: LossFn = F.cross_entropy, *, batch_size: int = 1024
) -> dict[str, float]:
    """Mean loss over `data`, and accuracy when the targets are class labels (for sequence
    targets, the share of scored tokens predicted right)."""
    _check_split("data", data)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss_sum, correct, counted = 0.0, 0, 0
    for start in range(0, len(data), batch_size):
        x = data.x[start : start + batch_size].to(device)
        y = data.y[start : start + batch_size].to(device)
        logits = model(x)
        loss_sum += loss_fn(logits, y).item() * len(y)
        if not y.is_floating_point():
            scored = y != IGNORE  # sequence tasks: the answer positions only
            correct += ((logits.argmax(-1) == y) & scored).sum().item()
            counted += scored.sum().item()
    model.train(was_training)
    scores = {"loss": loss_sum / len(data)}
    if not data.y.is_floating_point():
        scores["accuracy"] = correct / counted  # per target: per example for class labels
    return scores


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs for inputs `x` (a tensor or array) in eval mode, batched, on the CPU."""
    if isinstance(x, (Split, Data)):
        raise TypeError(
            f"predict takes the inputs x, e.g. data.test.x; got a {type(x).__name__} "
            "(use evaluate(model, split) for loss and accuracy)"
        )
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    batches: Batches,
    history: History,
    config: TrainConfig,
    best: dict[str, Any],
) -> Path:
    """Write everything needed to resume bit-exactly, atomically."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": asdict(config),
        "history": history.as_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "shuffle_rng": batches.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if cuda else [],
        "best": best,  # early stopping: best epoch, its val loss and weights, stopped or not
    }
    return save_state(path, state)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a training checkpoint safely (no arbitrary objects are unpickled)."""
    return load_state(path, CHECKPOINT_FORMAT)


def _check_same_run(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    # Resuming with other hyper-parameters would silently mix two different runs.
    free = {"epochs", "device"}
    saved = {**asdict(TrainConfig()), **saved}  # a field added since: its default then
    diff = [
        f"{k}={saved[k]!r} (now {v!r})"
        for k, v in asdict(config).items()
        if k not in free and saved[k] != v
    ]
    if diff:
        raise ConfigError(
            f"{path} was written by a run with {', '.join(diff)}; resume with the same "
            "settings, or start a fresh checkpoint_dir"
        )


def _check_split(name: str, split: Any) -> None:
    # Fail before any work, with the fix, instead of deep inside the loop.
    if isinstance(split, Data):
        raise TypeError(
            f"{name} must be a Split such as data.train or data.val; got the whole Data "
            "(e.g. fit(model, data.train, config, val=data.val))"
        )
    if not isinstance(split, Split):
        raise TypeError(
            f"{name} must be a labkit.Split; got {type(split).__name__} "
            "(wrap tensors as labkit.Split(x, y))"
        )
    if len(split) == 0:
        raise ValueError(f"the {name} split is empty")


def _extend(history: History, saved: dict[str, list]) -> None:
    for name, values in saved.items():
        getattr(history, name).extend(values)


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
