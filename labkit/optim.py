"""Optimizers and learning-rate schedules by name.

`momentum` and `nesterov` are SGD with (Nesterov) momentum; `adamw` decouples weight
decay from the gradient (Loshchilov & Hutter), which plain `adam` does not.
Schedules give a multiplier of the base learning rate for every optimizer step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from labkit.validate import ConfigError, check_choice, check_float, check_int

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "warmup")


def make_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    *,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """Build an optimizer by name; `momentum` applies to momentum, nesterov and rmsprop."""
    check_choice("optimizer", name, OPTIMIZERS)
    check_float("lr", lr, positive=True)
    check_float("weight_decay", weight_decay, minimum=0.0)
    check_float("momentum", momentum, minimum=0.0, maximum=0.999)
    opt = torch.optim
    if name == "sgd":
        return opt.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return opt.SGD(
            params, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=weight_decay
        )
    if name == "adagrad":
        return opt.Adagrad(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return opt.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return opt.Adam(params, lr=lr, weight_decay=weight_decay)
    return opt.AdamW(params, lr=lr, weight_decay=weight_decay)


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
    - cosine: from 1 down to 0 along half a cosine over `total_steps`
    - warmup: rises linearly from 1/warmup_steps to 1 over `warmup_steps`, then constant
    """
    check_choice("schedule", name, SCHEDULES)
    check_int("total_steps", total_steps, minimum=1)
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_float("gamma", gamma, positive=True, maximum=1.0)
    if name == "constant":
        return lambda t: 1.0
    if name == "step":
        every = step_every or max(1, total_steps // 3)
        check_int("step_every", every, minimum=1)
        return lambda t: gamma ** (t // every)
    if name == "cosine":
        return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total_steps) / total_steps))
    if warmup_steps == 0:
        raise ConfigError("warmup_steps must be >= 1 with schedule 'warmup'; got 0")
    return lambda t: min(1.0, (t + 1) / warmup_steps)


def make_scheduler(
    name: str, optimizer: torch.optim.Optimizer, total_steps: int, **kwargs
) -> LambdaLR | None:
    """A per-step scheduler for `name`, or None for 'constant' (nothing to step)."""
    factor = schedule_factor(name, total_steps, **kwargs)
    return None if name == "constant" else LambdaLR(optimizer, factor)
