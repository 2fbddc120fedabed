import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.checkpoint import load_state
from labkit.data import Split, make_blobs, split
from labkit.models import MLP
from labkit.train import (
    CHECKPOINT_NAME,
    TrainConfig,
    TrainingDiverged,
    evaluate,
    fit,
    load_checkpoint,
    predict,
    resolve_device,
    seed_everything,
)
from labkit.validate import ConfigError


def _model(seed=0, dropout=0.0):
    seed_everything(seed)
    return MLP(in_features=6, hidden=(16,), classes=3, dropout=dropout)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", 0.0, "lr must be a finite number > 0"),
        ("lr", math.nan, "lr must be a finite number"),
        ("lr", math.inf, "lr must be a finite number"),
        ("batch_size", 0, "batch_size must be an integer >= 1"),
        ("batch_size", 3.5, "batch_size must be an integer"),
        ("epochs", 0, "epochs must be an integer >= 1"),
        ("optimizer", "adamm", "optimizer must be one of 'sgd', 'momentum'"),
        ("schedule", "linear", "schedule must be one of 'constant', 'step'"),
        ("weight_decay", -0.1, "weight_decay must be >= 0"),
        ("momentum", 0.5, "momentum applies to optimizers 'momentum' and 'nesterov' only"),
        ("grad_clip", -1.0, "grad_clip must be >= 0"),
        ("seed", "zero", "seed must be an integer"),
        ("device", "tpu9", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        ("grad_accum", 0, "grad_accum must be an integer >= 1"),
        ("precision", "fp16", "precision must be one of 'fp32', 'bf16'"),
        ("activation_checkpointing", 1, "activation_checkpointing must be True or False"),
    ],
)
def test_bad_config_names_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{field: value})


def test_momentum_is_for_momentum_optimizers_only():
    assert TrainConfig(optimizer="momentum", momentum=0.5).momentum == 0.5
    with pytest.raises(ConfigError, match=r"momentum must be <= 0\.999"):
        TrainConfig(optimizer="nesterov", momentum=1.5)
    with pytest.raises(ConfigError, match=r"momentum=0\.9 with optimizer 'rmsprop'"):
        TrainConfig(optimizer="rmsprop", momentum=0.9)


def test_warmup_schedule_needs_warmup_steps():
    with pytest.raises(ConfigError, match="warmup_steps must be >= 1 with schedule 'warmup'"):
        TrainConfig(schedule="warmup")
    TrainConfig(schedule="warmup", warmup_steps=5)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TrainConfig().lr = 1.0


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def test_fit_learns_and_records_history(blobs):
    model = _model()
    history = fit(model, blobs.train, TrainConfig(lr=0.01, epochs=8, batch_size=16), val=blobs.val)
    assert history.epoch == list(range(1, 9))
    assert len(history.train_loss) == len(history.val_accuracy) == len(history.seconds) == 8
    assert history.train_loss[-1] < history.train_loss[0] / 2
    assert evaluate(model, blobs.test)["accuracy"] > 0.9
    assert history.val_accuracy[-1] == evaluate(model, blobs.val)["accuracy"]


def test_same_seed_gives_bit_identical_weights(blobs):
    cfg = TrainConfig(lr=0.01, epochs=3, batch_size=8)
    runs = []
    for _ in range(2):
        model = _model(dropout=0.2)
        fit(model, blobs.train, cfg)
        runs.append(_weights(model))
    assert _same(*runs)
    other = _model(dropout=0.2)
    fit(other, blobs.train, TrainConfig(lr=0.01, epochs=3, batch_size=8, seed=1))
    assert not _same(runs[0], _weights(other))


def test_interrupted_then_resumed_equals_uninterrupted(blobs, tmp_path):
    # dropout, momentum and a cosine schedule: every piece of state must be restored
    cfg = TrainConfig(lr=0.05, epochs=6, batch_size=16, optimizer="nesterov", schedule="cosine")
    straight = _model(dropout=0.3)
    fit(straight, blobs.train, cfg, val=blobs.val)

    def stop_after_3(history):
        if len(history) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(_model(dropout=0.3), blobs.train, cfg, val=blobs.val, checkpoint_dir=tmp_path,
            on_epoch=stop_after_3)  # fmt: skip
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["history"]["epoch"] == [1, 2, 3]

    resumed = _model(seed=123, dropout=0.3)  # different init: the checkpoint must win
    history = fit(resumed, blobs.train, cfg, val=blobs.val, checkpoint_dir=tmp_path, resume=True)
    assert history.epoch == [1, 2, 3, 4, 5, 6]
    assert _same(_weights(straight), _weights(resumed))


def test_resume_refuses_other_settings_and_overwrite(blobs, tmp_path):
    cfg = TrainConfig(lr=0.01, epochs=2, batch_size=16)
    fit(_model(), blobs.train, cfg, checkpoint_dir=tmp_path)
    with pytest.raises(FileExistsError, match="resume=True"):
        fit(_model(), blobs.train, cfg, checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"lr=0.01 \(now 0.02\)"):
        fit(_model(), blobs.train, TrainConfig(lr=0.02, epochs=2, batch_size=16),
            checkpoint_dir=tmp_path, resume=True)  # fmt: skip
    # more epochs continue the same run
    history = fit(_model(), blobs.train, TrainConfig(lr=0.01, epochs=3, batch_size=16),
                  checkpoint_dir=tmp_path, resume=True)  # fmt: skip
    assert history.epoch == [1, 2, 3]


def test_divergence_stops_and_keeps_last_good_state(blobs, tmp_path):
    calls = {"n": 0}
    steps_per_epoch = math.ceil(len(blobs.train) / 16)

    def loss_that_explodes_in_epoch_3(logits, y):
        calls["n"] += 1
        loss = F.cross_entropy(logits, y)
        return loss * math.inf if calls["n"] > 2 * steps_per_epoch else loss

    model = _model()
    cfg = TrainConfig(lr=0.01, epochs=5, batch_size=16)
    with pytest.raises(
        TrainingDiverged, match=r"epoch 3 with lr=0.01; try a lower learning rate"
    ) as info:
        fit(model, blobs.train, cfg, checkpoint_dir=tmp_path,
            loss_fn=loss_that_explodes_in_epoch_3)  # fmt: skip
    assert info.value.history.epoch == [1, 2]  # what finished before, for a plot or a report
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert saved["history"]["epoch"] == [1, 2]
    assert _same(_weights(model), saved["model"])
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_huge_learning_rate_diverges_with_advice(blobs):
    model = _model()
    before = _weights(model)
    with pytest.raises(TrainingDiverged, match="holds its weights from before training") as info:
        fit(model, blobs.train, TrainConfig(lr=1e30, epochs=3, batch_size=16, optimizer="sgd"))
    assert len(info.value.history) == 0
    assert _same(before, _weights(model))  # diverged in epoch 1: back to the initial weights


def test_grad_clip_bounds_each_step(blobs):
    model = _model()
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    cfg = TrainConfig(lr=1.0, epochs=1, batch_size=32, optimizer="sgd", grad_clip=1e-3)
    fit(model, blobs.train, cfg)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    steps = math.ceil(len(blobs.train) / 32)
    assert (after - before).norm() <= steps * 1e-3 * (1 + 1e-5)
    assert (after - before).norm() > 0


def test_evaluate_and_predict_agree(blobs):
    model = _model()
    logits = predict(model, blobs.test.x, batch_size=7)
    assert logits.shape == (len(blobs.test), 3)
    acc = (logits.argmax(-1) == blobs.test.y).float().mean().item()
    scores = evaluate(model, blobs.test, batch_size=5)
    assert math.isclose(scores["accuracy"], acc, rel_tol=1e-6)
    assert math.isclose(scores["loss"], F.cross_entropy(logits, blobs.test.y).item(), rel_tol=1e-5)
    assert model.training  # evaluate restores the mode it found


def test_checkpoint_holds_only_plain_data(blobs, tmp_path):
    fit(_model(), blobs.train, TrainConfig(epochs=1), checkpoint_dir=tmp_path)
    state = load_state(tmp_path / CHECKPOINT_NAME, "labkit.checkpoint/1")
    assert state["config"]["epochs"] == 1 and "optimizer" in state and "shuffle_rng" in state


def test_empty_splits_are_refused_before_any_training(blobs):
    empty = Split(blobs.train.x[:0], blobs.train.y[:0])
    with pytest.raises(ValueError, match="the train split is empty"):
        fit(_model(), empty, TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="the data split is empty"):
        evaluate(_model(), empty)
    calls = []
    with pytest.raises(ValueError, match="the val split is empty"):
        fit(_model(), blobs.train, TrainConfig(epochs=1), val=empty, on_epoch=calls.append)
    assert calls == [], "no epoch may run before the empty validation split is noticed"


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ("data", "train must be a Split such as data.train or data.val; got the whole Data"),
        ("tuple", r"train must be a labkit.Split; got tuple \(wrap tensors as labkit.Split"),
    ],
)
def test_fit_says_what_it_takes(blobs, train, message):
    given = blobs if train == "data" else (blobs.train.x, blobs.train.y)
    with pytest.raises(TypeError, match=message):
        fit(_model(), given, TrainConfig(epochs=1))


def test_predict_takes_arrays_and_refuses_splits(blobs):
    model = _model()
    from_array = predict(model, blobs.test.x.numpy().astype("float64"))
    assert torch.equal(from_array, predict(model, blobs.test.x))
    with pytest.raises(TypeError, match=r"predict takes the inputs x, e\.g\. data\.test\.x"):
        predict(model, blobs.test)


def test_resuming_a_finished_run_with_fewer_epochs_is_refused(blobs, tmp_path):
    cfg = TrainConfig(lr=0.01, epochs=3, batch_size=16)
    fit(_model(), blobs.train, cfg, checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match="holds 3 finished epochs but epochs=2"):
        fit(_model(), blobs.train, TrainConfig(lr=0.01, epochs=2, batch_size=16),
            checkpoint_dir=tmp_path, resume=True)  # fmt: skip
    same = fit(_model(), blobs.train, cfg, checkpoint_dir=tmp_path, resume=True)
    assert same.epoch == [1, 2, 3]  # a finished run with the same epochs is returned as is


def test_fit_runs_every_step_on_the_configured_device(blobs):
    # The meta device has shapes but no values: the whole forward/backward/step runs on it,
    # and fit fails only where it reads a number back. A model or batch left behind on the
    # CPU would fail earlier, with a device-mismatch error.
    model = _model()
    with pytest.raises((RuntimeError, NotImplementedError), match="meta") as info:
        fit(model, blobs.train, TrainConfig(epochs=1, device="meta"), show_progress=False)
    assert "same device" not in str(info.value)
    assert all(p.device.type == "meta" for p in model.parameters())


def test_auto_device_prefers_cuda_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"


def _stop_after(epochs):
    def stop(history):
        if len(history) == epochs:
            raise KeyboardInterrupt  # what Ctrl-C does

    return stop


def _overfitting_setup():
    # few, noisy points and a wide net: the validation loss turns up after a few epochs
    x, y = make_blobs(120, features=6, classes=3, spread=4.0, seed=1)
    data = split(x, y, val_fraction=0.3, test_fraction=0.2, seed=0)
    return data, TrainConfig(lr=0.01, epochs=60, batch_size=8, patience=3)


def _wide_model():
    seed_everything(0)
    return MLP(in_features=6, hidden=(256, 256), classes=3)


def test_early_stopping_stops_and_ends_with_the_best_weights(tmp_path):
    data, cfg = _overfitting_setup()
    calls = []
    model = _wide_model()
    history = fit(model, data.train, cfg, val=data.val, on_epoch=lambda h: calls.append(h.done))
    best = int(np.argmin(history.val_loss)) + 1
    assert len(history) == best + 3 < 60, "stopped 3 epochs after the lowest val loss"
    assert history.best_epoch == best and calls == [False] * (len(history) - 1) + [True]
    assert evaluate(model, data.val)["loss"] == pytest.approx(history.val_loss[best - 1])
    # the same run killed after epoch 2 and resumed stops at the same place, same weights
    with pytest.raises(KeyboardInterrupt):
        fit(_wide_model(), data.train, cfg, val=data.val, checkpoint_dir=tmp_path,
            on_epoch=_stop_after(2))  # fmt: skip
    resumed = _wide_model()
    again = fit(resumed, data.train, cfg, val=data.val, checkpoint_dir=tmp_path, resume=True)
    assert again.epoch == history.epoch and again.best_epoch == best
    assert _same(_weights(resumed), _weights(model))
    # resuming a run that already stopped early trains nothing more
    done = fit(_wide_model(), data.train, cfg, val=data.val, checkpoint_dir=tmp_path, resume=True)
    assert done.epoch == history.epoch


def test_early_stopping_needs_validation_and_a_valid_patience(blobs):
    with pytest.raises(ConfigError, match="patience=2 needs a val split"):
        fit(_model(), blobs.train, TrainConfig(patience=2, epochs=3))
    with pytest.raises(ConfigError, match="patience must be an integer >= 0"):
        TrainConfig(patience=-1)


def test_without_patience_the_run_goes_to_the_end_and_says_so(blobs):
    calls = []

    def record(history):
        calls.append(history.done)

    history = fit(_model(), blobs.train, TrainConfig(epochs=3), on_epoch=record)
    assert calls == [False, False, True] and history.best_epoch is None


def test_augment_transforms_every_training_batch_reproducibly(blobs):
    seen = []

    def noisy(x):
        seen.append(len(x))
        return x + 0.1 * torch.randn_like(x)  # from torch's generator, which fit seeds

    cfg = TrainConfig(lr=0.01, epochs=2, batch_size=16)
    a, b, plain = _model(), _model(), _model()
    fit(a, blobs.train, cfg, augment=noisy)
    assert sum(seen) == 2 * len(blobs.train)
    fit(b, blobs.train, cfg, augment=noisy)
    fit(plain, blobs.train, cfg)
    assert _same(_weights(a), _weights(b)) and not _same(_weights(a), _weights(plain))
