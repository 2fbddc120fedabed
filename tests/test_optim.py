import math

import pytest
import torch

from labkit.optim import OPTIMIZERS, make_optimizer, make_scheduler, schedule_factor
from labkit.validate import ConfigError


def _params():
    return [torch.nn.Parameter(torch.ones(3))]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_lowers_a_quadratic(name):
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    lr = 0.5 if name == "adagrad" else 0.05
    opt = make_optimizer(name, [w], lr)
    for _ in range(100):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert (w**2).sum().item() < 0.5 * 13


def test_optimizer_kinds():
    assert make_optimizer("nesterov", _params(), 0.1).defaults["nesterov"] is True
    assert make_optimizer("momentum", _params(), 0.1, momentum=0.8).defaults["momentum"] == 0.8
    assert make_optimizer("sgd", _params(), 0.1).defaults["momentum"] == 0
    assert type(make_optimizer("adamw", _params(), 0.1)).__name__ == "AdamW"


def test_unknown_optimizer_lists_choices():
    with pytest.raises(ConfigError, match="optimizer must be one of 'sgd', 'momentum', 'nesterov'"):
        make_optimizer("lbfgs", _params(), 0.1)
    with pytest.raises(ConfigError, match="lr must be a finite number > 0"):
        make_optimizer("sgd", _params(), -1.0)


def test_schedule_shapes():
    step = schedule_factor("step", 9, gamma=0.5)
    assert [step(t) for t in (0, 2, 3, 6)] == [1, 1, 0.5, 0.25]
    cos = schedule_factor("cosine", 10)
    assert cos(0) == 1 and math.isclose(cos(5), 0.5) and math.isclose(cos(10), 0, abs_tol=1e-12)
    warm = schedule_factor("warmup", 100, warmup_steps=4)
    assert [warm(t) for t in (0, 1, 3, 50)] == [0.25, 0.5, 1, 1]
    with pytest.raises(ConfigError, match="warmup_steps must be >= 1"):
        schedule_factor("warmup", 10)
    with pytest.raises(ConfigError, match="schedule must be one of"):
        schedule_factor("linear", 10)


def test_scheduler_steps_the_learning_rate():
    opt = make_optimizer("sgd", _params(), 1.0)
    assert make_scheduler("constant", opt, 10) is None
    sched = make_scheduler("cosine", opt, 10)
    for _ in range(5):
        opt.step()
        sched.step()
    assert math.isclose(opt.param_groups[0]["lr"], 0.5)
