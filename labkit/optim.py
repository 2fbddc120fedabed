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

Schedules give a multiplier of the base learning rate for every optimizer step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

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
    - step: multiplied by `gamma` every `step_every` steps (default: a third of the run)
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
    every = check_int("step_every", step_every or max(1, rest // 3), minimum=1)

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
