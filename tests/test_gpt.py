"""The tiny GPT, its sorting task, and what fit does at scale: bf16 autocast, gradient
accumulation, activation checkpointing, resume with them on."""

import pytest
import torch

from labkit.checkpoint import load_model, save_model
from labkit.data import IGNORE, Split, exact_match, sequence_loss, sort_task
from labkit.models import MLP, TinyGPT, build_model, parameter_count
from labkit.train import (
    CHECKPOINT_NAME,
    TrainConfig,
    evaluate,
    fit,
    load_checkpoint,
    seed_everything,
)
from labkit.validate import ConfigError

LENGTH = 4


def _gpt(seed=0, **kw):
    seed_everything(seed)
    shape = dict(vocab=5, context=2 * LENGTH, n_layer=2, n_head=2, n_embd=16) | kw
    return TinyGPT(**shape)


@pytest.fixture(scope="module")
def task():
    return sort_task(256, 64, length=LENGTH, digits=5, seed=0)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _fit(model, train, **config):
    config = dict(lr=3e-3, batch_size=16, epochs=2) | config
    return fit(model, train, TrainConfig(**config), loss_fn=sequence_loss, show_progress=False)


def test_sort_task_prompts_then_sorted_answers_and_distinct_test_prompts(task):
    train, test = task
    assert train.x.shape == (256, 2 * LENGTH - 1) and test.y.shape == (64, 2 * LENGTH - 1)
    assert (train.y[:, : LENGTH - 1] == IGNORE).all() and (train.y[:, LENGTH - 1 :] >= 0).all()
    prompts = train.x[:, :LENGTH]
    assert torch.equal(train.y[:, LENGTH - 1 :], prompts.sort(1).values)  # the rule
    assert torch.equal(train.x[:, LENGTH:], train.y[:, LENGTH - 1 : -1])  # next-token shift
    seen = {tuple(r) for r in prompts.tolist()}
    assert len(seen) == 256 and not seen & {tuple(r) for r in test.x[:, :LENGTH].tolist()}
    again = sort_task(256, 64, length=LENGTH, digits=5, seed=0)[0]
    assert torch.equal(again.x, train.x)


def test_sort_task_refuses_more_prompts_than_exist():
    with pytest.raises(ConfigError, match=r"only digits\*\*length = 16"):
        sort_task(10, 10, length=2, digits=4)


def test_attention_is_causal_and_shapes_are_checked():
    model = _gpt().eval()
    x = torch.randint(0, 5, (3, 6))
    changed = x.clone()
    changed[:, 4:] = (changed[:, 4:] + 1) % 5
    a, b = model(x), model(changed)
    assert a.shape == (3, 6, 5)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6) and not torch.allclose(a[:, 4:], b[:, 4:])
    with pytest.raises(ValueError, match="T <= context=8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, vocab=5\)"):
        model(torch.full((1, 3), 5))
    with pytest.raises(ConfigError, match="n_embd must be divisible by n_head"):
        TinyGPT(n_embd=30, n_head=4)


def test_gpt_saves_and_loads_by_name(tmp_path):
    model = _gpt()
    save_model(model, tmp_path / "gpt.pt")
    loaded = load_model(tmp_path / "gpt.pt")
    x = torch.randint(0, 5, (2, 7))
    assert torch.equal(loaded(x), model.eval()(x))
    assert parameter_count(build_model("gpt", **model.hparams)) == parameter_count(model)


def test_the_gpt_learns_to_sort(task):
    train, test = task
    model = _gpt(n_embd=32)
    history = _fit(model, train, epochs=12, batch_size=32)
    assert history.train_loss[-1] < history.train_loss[0] / 3
    scores = evaluate(model, test, sequence_loss)
    assert 0 <= scores["accuracy"] <= 1  # per answer token, prompt positions not counted
    match = exact_match(model, test)
    assert match > 0.5 and match <= scores["accuracy"] + 1e-9  # whole answers are harder
    copy = Split(test.x, test.y.clone())
    copy.y[:, LENGTH - 1 :] = (copy.y[:, LENGTH - 1 :] + 1) % 5  # every answer wrong
    assert exact_match(model, copy) < match


SGD = dict(optimizer="sgd", lr=0.1)  # the step is linear in the gradient: rounding stays
# rounding (Adam divides by sqrt(v), so a gradient of ~0 rounded differently can move a weight)


def test_four_micro_batches_of_16_step_like_one_batch_of_64(task):
    train = task[0]
    one = _gpt()
    _fit(one, train, batch_size=64, **SGD)
    accumulated = _gpt()
    _fit(accumulated, train, batch_size=16, grad_accum=4, **SGD)
    a, b = _weights(one), _weights(accumulated)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    plain = _gpt()
    _fit(plain, train, batch_size=16, **SGD)  # 4x the steps: clearly different weights
    assert not all(torch.allclose(a[k], v, atol=1e-3) for k, v in _weights(plain).items())


def test_accumulation_weights_a_short_last_micro_batch_by_its_size():
    # 44 rows in batches of 24: the second step holds 20 rows, as micro-batches of 8, 8 and
    # 4; weighted by their sizes (not 1/3 each), they give the 20-row batch's gradient.
    train = sort_task(44, 1, length=LENGTH, digits=5, seed=1)[0]
    one, accumulated = _gpt(), _gpt()
    _fit(one, train, batch_size=24, epochs=1, **SGD)
    _fit(accumulated, train, batch_size=8, grad_accum=3, epochs=1, **SGD)
    a, b = _weights(one), _weights(accumulated)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_activation_checkpointing_gives_the_same_training(task):
    train = task[0]
    plain, recomputed = _gpt(dropout=0.1), _gpt(dropout=0.1)
    _fit(plain, train)
    _fit(recomputed, train, activation_checkpointing=True)
    a, b = _weights(plain), _weights(recomputed)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(ConfigError, match="activation_checkpointing=True needs a model"):
        fit(MLP(in_features=3), Split(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)),
            TrainConfig(activation_checkpointing=True))  # fmt: skip


def test_bf16_autocast_trains_close_to_fp32_and_keeps_fp32_weights(task):
    train = task[0]
    full, half = _gpt(), _gpt()
    h32 = _fit(full, train)
    h16 = _fit(half, train, precision="bf16")
    assert all(p.dtype == torch.float32 for p in half.parameters())
    assert h16.train_loss[-1] == pytest.approx(h32.train_loss[-1], rel=0.05)
    assert h16.train_loss != h32.train_loss  # bf16 rounding did happen


def test_resume_is_bit_exact_with_bf16_accumulation_and_checkpointing(task, tmp_path):
    train = task[0]
    config = dict(epochs=4, precision="bf16", grad_accum=2, activation_checkpointing=True,
                  grad_clip=1.0)  # fmt: skip
    straight = _gpt(dropout=0.1)
    _fit(straight, train, **config)

    def stop_after_2(history):
        if len(history) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(_gpt(dropout=0.1), train, TrainConfig(lr=3e-3, batch_size=16, **config),
            loss_fn=sequence_loss, checkpoint_dir=tmp_path, on_epoch=stop_after_2,
            show_progress=False)  # fmt: skip
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["config"]["precision"] == "bf16"
    resumed = _gpt(seed=5, dropout=0.1)
    fit(resumed, train, TrainConfig(lr=3e-3, batch_size=16, **config), loss_fn=sequence_loss,
        checkpoint_dir=tmp_path, resume=True, show_progress=False)  # fmt: skip
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match=r"grad_accum=2 \(now 1\)"):
        fit(_gpt(), train, TrainConfig(lr=3e-3, batch_size=16, **(config | {"grad_accum": 1})),
            loss_fn=sequence_loss, checkpoint_dir=tmp_path, resume=True)  # fmt: skip
