"""labkit.figures.optim_rates: notebook 02's finder and schedule figures draw the data given,
the lesson's schedules map onto TrainConfig, an optimizer's state is compared in full, and the
verdicts follow the numbers with their noise."""

import math

import numpy as np
import pytest
import torch
from test_figures_optimizers import _history

import labkit
from labkit.figures import optim_rates as figs
from labkit.optim import LRFinderResult, schedule_factor
from labkit.train import TrainConfig


def test_finder_and_schedules_figures_draw_the_data_given():
    lrs = list(np.geomspace(1e-4, 1, 30))
    finds = {
        n: LRFinderResult(lrs, list(np.linspace(2.3, 0.5, 30)), lrs[10]) for n in ("sgd", "adam")
    }
    fig = figs.finder_figure(finds, "adam")
    one, all_ = fig.axes
    assert len(one.lines) == 3 and len(all_.lines) == 4  # curve, lowest, suggestion; 2 each

    factors = {"constant": np.ones(20), "cosine": np.linspace(1, 0, 20)}
    hist = {(n, b): _history([0.5, 0.6]) for n in factors for b in (0.1, 1.0)}
    fig = figs.schedules_figure(factors, hist, steps_per_epoch=10, optimizer="sgd")
    assert len(fig.axes) == 3 and all(len(ax.lines) == 2 for ax in fig.axes)
    assert fig.axes[2].get_title() == "sgd, base lr 1"


def test_suggestion_table_reports_divergence_and_ties():
    lrs = list(np.geomspace(1e-4, 1, 30))
    finds = {n: LRFinderResult(lrs, list(np.linspace(2.3, 0.5, 30)), lrs[10]) for n in ("a", "b")}
    text, versus = figs.suggestion_table(
        finds, {"a": 0.97, "b": math.nan}, {"a": 0.96, "b": 0.9}, {"a": 0.1, "b": 0.1}, 180
    )
    assert versus["a"].verdict == "tie" and versus["b"].verdict == "worse"
    assert "better in 0, worse in 1, tied in 1 of 2 cases" in text


def test_finder_table_says_on_which_side_sgds_suggestion_lies():
    def at(lr):
        return LRFinderResult([1e-4, lr, 1.0], [2.3, 1.0, 0.5], lr)

    left = figs.finder_table(
        {"sgd": at(1e-3), "momentum": at(1e-2), "adam": at(1e-3)},
        dict.fromkeys(("sgd", "momentum", "adam"), 0.05),
    )
    assert "1.0 decades left of momentum's, at adam's" in left
    assert "0 of 3 suggestions lie above" in left
    right = figs.finder_table(
        {"sgd": at(0.1), "momentum": at(1e-2), "adam": at(1e-3)},
        dict.fromkeys(("sgd", "momentum", "adam"), 0.05),
    )
    assert "1.0 decades right of momentum's, 2.0 decades right of adam's" in right


def test_schedule_report_compares_losses_with_their_noise():
    rng = np.random.default_rng(0)
    base = rng.exponential(0.2, 180)
    losses = {
        ("constant", 0.1): base,
        ("cosine", 0.1): base * 0.5,  # clearly lower
        ("warmup_cosine", 0.1): base * 0.52,
        ("step", 0.1): None,
    }
    accuracy = {k: (math.nan if v is None else 0.95) for k, v in losses.items()}
    text, verdicts = figs.schedule_report(losses, accuracy, 180)
    assert verdicts["cosine", "constant", 0.1].verdict == "better"  # lower loss
    assert verdicts["warmup_cosine", "cosine", 0.1].verdict == "tie"
    assert verdicts["step", "constant", 0.1].verdict == "worse"  # diverged
    assert "at lr 0.1 " in text and ": a tie" in text and "diverged" in text


def test_schedule_fields_make_a_valid_config_and_warm_up_for_a_tenth():
    assert figs.SCHEDULES == ("constant", "step", "cosine", "warmup_cosine")
    assert figs.schedule_fields("warmup_cosine", 200) == {"schedule": "cosine", "warmup_steps": 20}
    assert figs.schedule_fields("warmup_cosine", 5)["warmup_steps"] == 1  # at least one step
    for name in figs.SCHEDULES:
        fields = figs.schedule_fields(name, 200)
        TrainConfig(**fields)  # each is a schedule TrainConfig accepts
        factor = schedule_factor(fields["schedule"], 200, warmup_steps=fields["warmup_steps"])
        assert 0 < factor(0) <= 1
    drops = figs.step_drops_line(np.array([schedule_factor("step", 200)(t) for t in range(200)]))
    assert (
        drops
        == "step: the rate drops 10x at steps [67, 134] of 200, so it ends at 0.01x the base rate"
    )


def test_same_state_compares_settings_and_every_tensor():
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([w], lr=1e-3)
    w.grad = torch.ones(3)
    opt.step()
    saved = {"state": {0: {k: v.clone() for k, v in opt.state_dict()["state"][0].items()}},
             "param_groups": opt.state_dict()["param_groups"]}  # fmt: skip
    assert figs.same_state(saved, opt.state_dict())
    opt.step()  # one more step: m, v and the step count move
    assert not figs.same_state(saved, opt.state_dict())
    other = torch.optim.Adam([w], lr=1e-2).state_dict()
    assert not figs.same_state(other, torch.optim.Adam([w], lr=1e-3).state_dict())


def test_schedule_factors_are_what_fit_applies_at_every_step():
    f = figs.schedule_factors(100)
    assert list(f) == list(figs.SCHEDULES) and all(len(v) == 100 for v in f.values())
    assert (f["constant"] == 1).all() and f["cosine"][0] == 1.0 and f["cosine"][-1] < 0.01
    assert f["step"][-1] == pytest.approx(0.01)  # two drops of 10x
    warm = schedule_factor("cosine", 100, warmup_steps=10)  # warmup_cosine: 10 % warm-up
    assert np.array_equal(f["warmup_cosine"], [warm(t) for t in range(100)])
    assert f["warmup_cosine"][0] == pytest.approx(0.1)


def test_finder_keeps_state_after_the_finder_with_a_busy_optimizer():
    data = labkit.load_digits(seed=0)
    labkit.seed_everything(0)
    model = labkit.MLP(hidden=(8,))
    assert figs.finder_keeps_state(model, data.train, batch_size=64, seed=0)


def test_lr_follows_schedule_checks_the_rate_fit_recorded(blobs):
    torch.manual_seed(0)
    steps_per_epoch = math.ceil(len(blobs.train) / 32)
    total = 3 * steps_per_epoch
    config = TrainConfig(
        lr=0.1, batch_size=32, epochs=3, **figs.schedule_fields("warmup_cosine", total)
    )
    history = labkit.fit(torch.nn.Linear(6, 3), blobs.train, config, show_progress=False)
    assert figs.lr_follows_schedule(history, "warmup_cosine", 0.1, total, steps_per_epoch)
    assert not figs.lr_follows_schedule(history, "cosine", 0.1, total, steps_per_epoch)
    assert not figs.lr_follows_schedule(history, "warmup_cosine", 0.2, total, steps_per_epoch)


def test_val_losses_are_the_per_example_losses_whose_mean_fit_recorded(blobs):
    from labkit.figures.optimizers import fit_run

    torch.manual_seed(0)
    run = fit_run(torch.nn.Linear(6, 3), blobs.train, TrainConfig(lr=0.1, epochs=2), val=blobs.val)
    losses = figs.val_losses(run, blobs.val)
    assert losses.shape == (len(blobs.val),) and (losses >= 0).all()
    assert losses.mean() == pytest.approx(run.history.val_loss[-1], rel=1e-4)
    assert figs.val_losses(run._replace(diverged="blew up"), blobs.val) is None
