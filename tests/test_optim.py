import itertools
import math

import numpy as np
import pytest
import torch

from labkit.optim import (
    OPTIMIZER_DEFAULTS,
    OPTIMIZERS,
    lr_finder,
    make_optimizer,
    make_scheduler,
    schedule_factor,
)
from labkit.validate import ConfigError


def _params():
    return [torch.nn.Parameter(torch.ones(3))]


# Every name's full set of hyper-parameters, pinned: the textbook algorithm with PyTorch's
# standard defaults, and nothing added (no momentum on RMSprop, AdamW's decay not zeroed).
EXPECTED = {
    "sgd": (torch.optim.SGD, {"momentum": 0.0, "dampening": 0.0, "nesterov": False,
                              "weight_decay": 0.0}),
    "momentum": (torch.optim.SGD, {"momentum": 0.9, "dampening": 0.0, "nesterov": False,
                                   "weight_decay": 0.0}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "dampening": 0.0, "nesterov": True,
                                   "weight_decay": 0.0}),
    "adagrad": (torch.optim.Adagrad, {"lr_decay": 0.0, "eps": 1e-10, "weight_decay": 0.0,
                                      "initial_accumulator_value": 0.0}),
    "rmsprop": (torch.optim.RMSprop, {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0,
                                      "centered": False, "weight_decay": 0.0}),
    "adam": (torch.optim.Adam, {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                "amsgrad": False}),
    "adamw": (torch.optim.AdamW, {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01,
                                  "amsgrad": False}),
}  # fmt: skip


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_name_builds_the_textbook_optimizer_with_standard_defaults(name):
    cls, expected = EXPECTED[name]
    opt = make_optimizer(name, _params(), 0.01)
    assert type(opt) is cls
    assert {k: opt.defaults[k] for k in expected} == expected
    assert opt.defaults["lr"] == 0.01
    assert set(OPTIMIZER_DEFAULTS) == set(OPTIMIZERS)


def test_rmsprop_has_no_momentum_unless_asked_and_refuses_it():
    opt = make_optimizer("rmsprop", _params(), 0.01)
    assert opt.defaults["momentum"] == 0
    with pytest.raises(ConfigError, match="momentum applies to optimizers 'momentum' and"):
        make_optimizer("rmsprop", _params(), 0.01, momentum=0.9)
    with pytest.raises(ConfigError, match="with optimizer 'adam'"):
        make_optimizer("adam", _params(), 0.01, momentum=0.5)


def test_adamw_is_not_adam():
    # Same start, same gradients: with its default decoupled weight decay AdamW moves the
    # weights differently; with weight_decay=0 it is exactly Adam (why the default matters).
    def run(name, **kwargs):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(5))
        opt = make_optimizer(name, [w], 0.1, **kwargs)
        for _ in range(5):
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()
        return w.detach()

    assert not torch.equal(run("adam"), run("adamw"))
    assert torch.equal(run("adam"), run("adamw", weight_decay=0.0))


def test_momentum_and_weight_decay_are_honoured():
    assert make_optimizer("momentum", _params(), 0.1, momentum=0.8).defaults["momentum"] == 0.8
    assert make_optimizer("nesterov", _params(), 0.1, momentum=0.5).defaults["momentum"] == 0.5
    assert make_optimizer("adamw", _params(), 0.1, weight_decay=0.0).defaults["weight_decay"] == 0
    assert make_optimizer("sgd", _params(), 0.1, weight_decay=1e-4).defaults["weight_decay"] == 1e-4


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


def test_unknown_optimizer_lists_choices():
    with pytest.raises(ConfigError, match="optimizer must be one of 'sgd', 'momentum', 'nesterov'"):
        make_optimizer("lbfgs", _params(), 0.1)
    with pytest.raises(ConfigError, match="lr must be a finite number > 0"):
        make_optimizer("sgd", _params(), -1.0)


def test_schedule_shapes():
    step = schedule_factor("step", 9, gamma=0.5)
    assert [step(t) for t in (0, 2, 3, 6)] == [1, 1, 0.5, 0.25]
    for total in (9, 10, 11, 200):  # two drops, never a third one in the last steps
        step = schedule_factor("step", total)
        drops = [t for t in range(1, total) if step(t) != step(t - 1)]
        assert len(drops) == 2 and drops[0] >= total / 3 and step(total - 1) == pytest.approx(0.01)
    cos = schedule_factor("cosine", 10)
    assert cos(0) == 1 and math.isclose(cos(5), 0.5) and math.isclose(cos(10), 0, abs_tol=1e-12)
    warm = schedule_factor("warmup", 100, warmup_steps=4)
    assert [warm(t) for t in (0, 1, 3, 50)] == [0.25, 0.5, 1, 1]
    with pytest.raises(ConfigError, match="warmup_steps must be >= 1"):
        schedule_factor("warmup", 10)
    with pytest.raises(ConfigError, match="schedule must be one of"):
        schedule_factor("linear", 10)


def test_warmup_steps_apply_to_every_schedule():
    # warm up over 4 steps, then the cosine runs over the remaining 8 and ends at 0
    cos = schedule_factor("cosine", 12, warmup_steps=4)
    assert [cos(t) for t in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert cos(4) == 1 and math.isclose(cos(8), 0.5) and math.isclose(cos(12), 0, abs_tol=1e-12)
    step = schedule_factor("step", 10, warmup_steps=1, gamma=0.5)
    assert [step(t) for t in (0, 1, 3, 4)] == [1.0, 1.0, 1.0, 0.5]
    opt = make_optimizer("sgd", _params(), 1.0)
    assert make_scheduler("constant", opt, 10, warmup_steps=2) is not None  # not ignored
    assert math.isclose(opt.param_groups[0]["lr"], 0.5)


def test_scheduler_steps_the_learning_rate():
    opt = make_optimizer("sgd", _params(), 1.0)
    assert make_scheduler("constant", opt, 10) is None
    sched = make_scheduler("cosine", opt, 10)
    for _ in range(5):
        opt.step()
        sched.step()
    assert math.isclose(opt.param_groups[0]["lr"], 0.5)


def _blob_data():
    from labkit.data import make_blobs, split

    x, y = make_blobs(300, features=6, classes=3, spread=1.5, seed=0)
    return split(x, y, seed=0)


def test_lr_finder_sweeps_up_and_restores_model_optimizer_and_rng():
    from labkit.models import MLP

    data = _blob_data()
    torch.manual_seed(0)
    model = MLP(in_features=6, hidden=(16,), classes=3, dropout=0.2)
    opt = make_optimizer("momentum", model.parameters(), 0.05)
    model(data.train.x[:8]).sum().backward()
    opt.step()  # give the optimizer some state to restore
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    state = opt.state_dict()["state"][0]["momentum_buffer"].clone()
    rng = torch.get_rng_state()
    result = lr_finder(model, data.train, opt, min_lr=1e-4, max_lr=10.0, steps=60, batch_size=16)
    lrs = result.lrs
    assert lrs[0] == pytest.approx(1e-4) and all(b > a for a, b in itertools.pairwise(lrs))
    assert len(lrs) == len(result.losses) <= 60
    assert lrs[0] <= result.suggested_lr <= lrs[int(np.argmin(result.losses))]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    assert torch.equal(opt.state_dict()["state"][0]["momentum_buffer"], state)
    assert opt.param_groups[0]["lr"] == 0.05 and torch.equal(torch.get_rng_state(), rng)


def test_lr_finder_stops_when_the_loss_blows_up():
    from labkit.models import MLP

    data = _blob_data()
    torch.manual_seed(0)
    result = lr_finder(MLP(in_features=6, hidden=(16,), classes=3), data.train, "sgd",
                       min_lr=1e-3, max_lr=1e6, steps=200, batch_size=16)  # fmt: skip
    assert len(result.lrs) < 200 and result.lrs[-1] < 1e6
    assert result.suggested_lr < 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, r"min_lr must be < max_lr; got min_lr=1\.0, max_lr=0\.1"),
        ({"min_lr": 0.0}, "min_lr must be a finite number > 0"),
        ({"steps": 1}, "steps must be an integer >= 2"),
    ],
)
def test_lr_finder_names_bad_ranges(kwargs, message):
    from labkit.models import MLP

    with pytest.raises(ConfigError, match=message):
        lr_finder(MLP(in_features=6, hidden=(4,), classes=3), _blob_data().train, **kwargs)


def test_the_suggestion_is_the_steepest_fall_before_the_lowest_loss():
    from labkit.optim import _steepest

    lrs = list(np.geomspace(1e-4, 1.0, 41))
    # Settling in the first tenth (a fast fall), a steady fall, then the lowest loss after
    # the steepest drop of all, right before the loss blows up.
    losses = [2.3, 1.6] + [1.5 - 0.01 * i for i in range(34)]
    losses[20:24] = [losses[19] - 0.08 * k for k in range(1, 5)]  # the fall to suggest
    losses[24:] = [v - 0.32 for v in losses[24:]]
    losses += [losses[-1] - 0.1, 5.0, 5.0, 5.0, 5.0]  # steepest only one-sided, at the edge
    lowest = int(np.argmin(losses))
    assert lowest == 36
    pick = lrs.index(_steepest(lrs, losses))
    assert 20 <= pick <= 23  # not the settling start, not the edge of divergence


def test_the_skip_is_a_tenth_of_the_points_up_to_the_lowest_loss_not_of_the_sweep():
    from labkit.optim import _steepest

    # 100 rates, the lowest loss at point 39: lr_finder skips points 0-3 (a tenth of the 40 up
    # to the lowest), not 0-9 (a tenth of the sweep). The steepest fall, from point 5 to 6, is
    # kept; a fall inside points 0-3 is not.
    lrs = list(np.geomspace(1e-5, 10.0, 100))
    losses = [2.3 - 0.01 * i for i in range(40)] + [3.0] * 60
    losses[6:40] = [v - 0.5 for v in losses[6:40]]  # a sharp fall from point 5 to 6
    assert int(np.argmin(losses)) == 39
    assert lrs.index(_steepest(lrs, losses)) in (5, 6)
    losses[:2] = [losses[0] + 5.0, losses[1] + 2.0]  # a sharper fall in the skipped points
    assert lrs.index(_steepest(lrs, losses)) in (5, 6)


def test_adams_weight_decay_is_an_l2_term_in_the_gradient_and_adamws_is_decoupled():
    # torch.optim.Adam(weight_decay=wd) steps on g + wd * w; AdamW shrinks w by lr * wd first.
    def hand(w, grads, lr, wd, decoupled, betas=(0.9, 0.999), eps=1e-8):
        m = v = torch.zeros_like(w)
        for t, g in enumerate(grads, start=1):
            if decoupled:
                w = w - lr * wd * w
            else:
                g = g + wd * w
            m = betas[0] * m + (1 - betas[0]) * g
            v = betas[1] * v + (1 - betas[1]) * g * g
            m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
            w = w - lr * m_hat / (v_hat.sqrt() + eps)
        return w

    torch.manual_seed(0)
    w0 = torch.randn(6, dtype=torch.float64)
    grads = [torch.randn(6, dtype=torch.float64) for _ in range(10)]
    for name, decoupled in (("adam", False), ("adamw", True)):
        p = torch.nn.Parameter(w0.clone())
        opt = make_optimizer(name, [p], 0.05, weight_decay=0.3)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        assert torch.allclose(p.detach(), hand(w0, grads, 0.05, 0.3, decoupled), atol=1e-12)
        assert not torch.allclose(p.detach(), hand(w0, grads, 0.05, 0.3, not decoupled))
