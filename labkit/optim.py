"""Optimizers and learning-rate schedules by name.

Each name gives the textbook algorithm with PyTorch's standard hyper-parameters, and
nothing a learner did not ask for (see `OPTIMIZER_DEFAULTS`):

- `sgd`: w -= lr * g
- `momentum` / `nesterov`: SGD with a velocity buffer v = momentum * v + g (a decaying
  *sum* of past gradients, not an average), plain or Nesterov's look-ahead form
- `adagrad`, `rmsprop`: per-weight steps scaled by the (running) mean square gradient
- `adam`: momentum and RMSprop's scaling, bias-corrected; `weight_decay` adds an L2 term to
  the gradient
- `adamw`: Adam with weight decay *decoupled* from the gradient (Loshchilov & Hutter),
  0.01 unless set: with 0 it would be exactly Adam

Schedules give a multiplier of the base learning rate for every optimizer step;
`lr_finder` runs the learning-rate range test to suggest a starting learning rate.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import LambdaLR

from labkit.data import Batches, Split
from labkit.validate import ConfigError, check_choice, check_float, check_int

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "warmup")
MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")  # the only ones `momentum` applies to
DEFAULT_MOMENTUM = 0.9
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01}  # PyTorch's AdamW default; every other optimizer: 0

# What each name builds, with every hyper-parameter labkit leaves at PyTorch's default.
OPTIMIZER_DEFAULTS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "sgd": (torch.optim.SGD, {"momentum": 0.0, "dampening": 0.0, "nesterov": False}),
    "momentum": (torch.optim.SGD, {"momentum": 0.9, "dampening": 0.0, "nesterov": False}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "dampening": 0.0, "nesterov": True}),
    "adagrad": (
        torch.optim.Adagrad,
        {"lr_decay": 0.0, "eps": 1e-10, "initial_accumulator_value": 0.0},
    ),
    "rmsprop": (
        torch.optim.RMSprop,
        {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False},
    ),
    "adam": (torch.optim.Adam, {"betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False}),
    "adamw": (torch.optim.AdamW, {"betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False}),
}


def check_momentum(optimizer: str, momentum: float | None) -> float | None:
    """`momentum` is honoured by 'momentum' and 'nesterov' only; refuse it elsewhere."""
    if momentum is None:
        return None
    check_float("momentum", momentum, minimum=0.0, maximum=0.999)
    if optimizer not in MOMENTUM_OPTIMIZERS:
        raise ConfigError(
            f"momentum applies to optimizers 'momentum' and 'nesterov' only; got "
            f"momentum={momentum} with optimizer {optimizer!r} (leave momentum unset)"
        )
    return float(momentum)


def make_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    *,
    weight_decay: float | None = None,
    momentum: float | None = None,
) -> torch.optim.Optimizer:
    """Build the optimizer `name` with standard hyper-parameters (`OPTIMIZER_DEFAULTS`).

    `weight_decay=None` means the optimizer's own default: 0.01 for adamw, 0 otherwise.
    `momentum` applies to 'momentum' and 'nesterov' (default 0.9) and is refused elsewhere.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    check_float("lr", lr, positive=True)
    if weight_decay is None:
        weight_decay = DEFAULT_WEIGHT_DECAY.get(name, 0.0)
    check_float("weight_decay", weight_decay, minimum=0.0)
    momentum = check_momentum(name, momentum)
    cls, defaults = OPTIMIZER_DEFAULTS[name]
    kwargs = dict(defaults, lr=lr, weight_decay=weight_decay)
    if name in MOMENTUM_OPTIMIZERS:
        kwargs["momentum"] = DEFAULT_MOMENTUM if momentum is None else momentum
    return cls(params, **kwargs)


def schedule_factor(
    name: str,
    total_steps: int,
    *,
    warmup_steps: int = 0,
    step_every: int | None = None,
    gamma: float = 0.1,
) -> Callable[[int], float]:
    """The multiplier of the base learning rate at optimizer step `t` (0-based).

    - constant: 1 throughout
    - step: multiplied by `gamma` every `step_every` steps (default: a third of the run,
      rounded up, so the rate drops twice: after one third and after two thirds)
    - cosine: from 1 down to 0 along half a cosine, reaching 0 at `total_steps`
    - warmup: the linear warm-up alone, then constant (needs `warmup_steps` >= 1)

    With `warmup_steps` > 0 every schedule starts with a linear warm-up from
    1/warmup_steps to 1, and the schedule itself runs over the remaining steps.
    """
    check_choice("schedule", name, SCHEDULES)
    check_int("total_steps", total_steps, minimum=1)
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_float("gamma", gamma, positive=True, maximum=1.0)
    if name == "warmup" and warmup_steps == 0:
        raise ConfigError("warmup_steps must be >= 1 with schedule 'warmup'; got 0")
    rest = max(1, total_steps - warmup_steps)  # steps the schedule itself spans
    every = check_int("step_every", step_every or math.ceil(rest / 3), minimum=1)

    def factor(t: int) -> float:
        if t < warmup_steps:
            return (t + 1) / warmup_steps
        t -= warmup_steps
        if name == "step":
            return gamma ** (t // every)
        if name == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(t, rest) / rest))
        return 1.0  # constant, or warmup once warmed up

    return factor


def make_scheduler(
    name: str, optimizer: torch.optim.Optimizer, total_steps: int, **kwargs
) -> LambdaLR | None:
    """A per-step scheduler for `name`, or None when the rate stays constant (nothing to step)."""
    factor = schedule_factor(name, total_steps, **kwargs)
    constant = name == "constant" and not kwargs.get("warmup_steps")
    return None if constant else LambdaLR(optimizer, factor)


@dataclass(frozen=True)
class LRFinderResult:
    """What `lr_finder` measured: the loss at each learning rate it tried."""

    lrs: list[float]  # learning rate of each step, growing exponentially
    losses: list[float]  # exponentially smoothed training loss after each step
    suggested_lr: float  # where the smoothed loss fell fastest (per unit of log lr)


def lr_finder(
    model: torch.nn.Module,
    train: Split,
    optimizer: str | torch.optim.Optimizer = "adam",
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int = 100,
    batch_size: int = 64,
    seed: int = 0,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
) -> LRFinderResult:
    """The learning-rate range test (Smith 2017): train for up to `steps` mini-batches while
    the learning rate grows exponentially from `min_lr` to `max_lr`, recording the smoothed
    loss, and stop early once it exceeds `stop_factor` × its lowest value (it diverged).

    The suggestion is the learning rate where the loss fell fastest, before its minimum,
    skipping the first tenth of the points up to that minimum (start-up noise): a starting
    point to refine, not an answer. Afterwards the model's weights, the optimizer's
    state (when an optimizer is passed in) and torch's random generator are as before.
    """
    check_float("min_lr", min_lr, positive=True)
    check_float("max_lr", max_lr, positive=True)
    if min_lr >= max_lr:
        raise ConfigError(f"min_lr must be < max_lr; got min_lr={min_lr}, max_lr={max_lr}")
    check_int("steps", steps, minimum=2)
    check_float("smoothing", smoothing, minimum=0.0, maximum=0.999)
    check_float("stop_factor", stop_factor, positive=True)
    if isinstance(optimizer, str):
        opt, saved_opt = make_optimizer(optimizer, model.parameters(), min_lr), None
    else:
        opt, saved_opt = optimizer, copy.deepcopy(optimizer.state_dict())
    saved_model = copy.deepcopy(model.state_dict())
    device = next(model.parameters()).device
    batches = Batches(train.to(device), batch_size, seed=seed)
    lrs, losses, avg, lowest = [], [], 0.0, math.inf
    was_training = model.training
    model.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for step in range(steps):
            if step % len(batches) == 0:
                batch_iter = iter(batches)
            x, y = next(batch_iter)
            lr = min_lr * (max_lr / min_lr) ** (step / (steps - 1))
            for group in opt.param_groups:
                group["lr"] = lr
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # bias-corrected running mean, as in Adam: the first values are not pulled to 0
            avg = smoothing * avg + (1 - smoothing) * loss.item()
            smoothed = avg / (1 - smoothing ** (step + 1))
            if not math.isfinite(smoothed) or smoothed > stop_factor * lowest:
                break
            lowest = min(lowest, smoothed)
            lrs.append(lr)
            losses.append(smoothed)
    model.load_state_dict(saved_model)
    model.train(was_training)
    if saved_opt is not None:
        opt.load_state_dict(saved_opt)
    return LRFinderResult(lrs, losses, _steepest(lrs, losses))


def _steepest(lrs: list[float], losses: list[float]) -> float:
    # The largest fall of the loss per unit of log lr, among the points up to the lowest
    # loss. The first tenth of those points is skipped (the first tenth of the way to the
    # lowest loss, not of the whole sweep): there the smoothed loss still settles, and a
    # fast fall at a learning rate too small to train would be a poor suggestion. The
    # lowest point itself is left out: it sits at the edge of divergence.
    end = int(np.argmin(losses)) + 1
    start = max(1, end // 10)
    if end - start < 3:
        return lrs[max(0, end - 2)]
    slopes = np.gradient(np.asarray(losses[:end]), np.log(lrs[:end]))
    return float(lrs[start + int(np.argmin(slopes[start : end - 1]))])
