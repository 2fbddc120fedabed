"""DDP with torchrun (gloo, 2 processes on the CPU): the weights of one process with the same
global batch, rank 0 writes, a stopped run resumes bit-exactly, bad settings are refused."""

import time

import pytest
import torch

import labkit.train
from labkit import distributed
from labkit.checkpoint import load_model
from labkit.distributed import epoch_seconds, launch, train
from labkit.io import read_metrics
from labkit.validate import ConfigError

pytestmark = pytest.mark.slow
# 129 rows in batches of 32: the last batch has one row, so rank 1's share of it is empty and
# the ranks' shares must be weighted by their rows to give the one-process step.
SMALL = dict(n_train=129, n_test=32, length=4, digits=5, n_embd=16, n_head=2, batch_size=32,
             optimizer="sgd", lr=0.3)  # fmt: skip


def _weights(out):
    return load_model(out / "model.pt").state_dict()


def test_two_ranks_end_with_the_weights_of_one_process_and_resume_bit_exactly(tmp_path):
    threads = torch.get_num_threads()
    train(tmp_path / "one", epochs=2, **SMALL)  # one process: this one, the whole data
    torch.set_num_threads(threads)
    launch(tmp_path / "two", nproc=2, epochs=2, **SMALL)
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert all(torch.allclose(one[k], two[k], atol=1e-6) for k in one)
    metrics = read_metrics(tmp_path / "two")
    assert metrics["world_size"] == 2 and metrics["final_loss"] == pytest.approx(
        read_metrics(tmp_path / "one")["final_loss"], rel=1e-5
    )
    # rank 0 alone wrote: one model, one checkpoint, nothing half-written beside them
    assert sorted(p.name for p in (tmp_path / "two").rglob("*")) == [
        "checkpoints", "last.pt", "metrics.json", "model.pt"]  # fmt: skip
    # a run stopped after epoch 1 (what a kill leaves) and resumed equals the straight run
    launch(tmp_path / "stopped", nproc=2, epochs=1, **SMALL)
    launch(tmp_path / "stopped", nproc=2, epochs=2, resume=True, **SMALL)
    resumed = _weights(tmp_path / "stopped")
    assert all(torch.equal(two[k], resumed[k]) for k in two)


@pytest.mark.parametrize(
    ("nproc", "settings", "message"),
    [
        (2, dict(n_train=1), "the world size 2 is larger than the data: n_train=1"),
        (2, dict(batch_size=33), "batch_size=33 must be divisible by the world size 2"),
    ],
)
def test_bad_settings_are_refused_by_name(tmp_path, nproc, settings, message):
    with pytest.raises(RuntimeError, match=message):
        launch(tmp_path, nproc=nproc, **(SMALL | settings))
    assert not (tmp_path / "model.pt").exists()


def test_bad_settings_are_refused_before_launching(tmp_path):
    with pytest.raises(ConfigError, match="precision must be one of 'fp32', 'bf16'"):
        train(tmp_path, **(SMALL | dict(precision="fp16")))
    with pytest.raises(ConfigError, match=r"unknown settings \['layers'\]"):
        launch(tmp_path, layers=3)
    with pytest.raises(ConfigError, match="unknown settings"):
        train(tmp_path, layers=3)
    with pytest.raises(ConfigError, match="device must be one of 'auto', 'cpu'"):
        train(tmp_path, device="tpu")


def test_train_seconds_are_the_epochs_without_the_start_up(tmp_path, monkeypatch):
    # The first optimizer imports torch._dynamo (seconds on a CPU), before the first epoch:
    # stand in a slow start-up there; train_seconds must not count it.
    real = labkit.train.make_optimizer

    def slow_start(*args, **kwargs):
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(labkit.train, "make_optimizer", slow_start)
    start = time.perf_counter()
    metrics = train(tmp_path, epochs=2, **SMALL)
    assert time.perf_counter() - start > 1.0
    assert len(epoch_seconds(metrics)) == 2 and metrics["train_seconds"] < 1.0
    assert metrics["train_seconds"] == pytest.approx(sum(epoch_seconds(metrics)))
    assert epoch_seconds(read_metrics(tmp_path)) == epoch_seconds(metrics)


def test_grad_clip_is_a_setting_passed_to_training(tmp_path):
    clipped = train(tmp_path / "clipped", epochs=1, grad_clip=0.01, **SMALL)
    free = train(tmp_path / "free", epochs=1, **SMALL)
    assert clipped["grad_clip"] == 0.01 and free["grad_clip"] == 0.0  # off unless asked for
    a, b = _weights(tmp_path / "clipped"), _weights(tmp_path / "free")
    assert not all(torch.equal(a[k], b[k]) for k in a), "clipping at 0.01 changes the steps"
    assert "--grad-clip=0.5" in distributed._options({"grad_clip": 0.5})
    with pytest.raises(ConfigError, match="grad_clip must be"):
        train(tmp_path / "bad", grad_clip=-1.0, **SMALL)
    with pytest.raises(RuntimeError, match="grad_clip must be"):
        launch(tmp_path / "bad", nproc=1, grad_clip=-1.0, **SMALL)


@pytest.mark.parametrize(
    ("gpus", "local_world", "device"),
    [(0, 2, "cpu"), (1, 2, "cpu"), (2, 2, "cuda:1"), (1, 1, "cuda:0")],
)
def test_each_process_gets_a_gpu_of_its_own_or_all_use_the_cpu(
    monkeypatch, gpus, local_world, device
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: None)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_world))
    monkeypatch.setenv("LOCAL_RANK", str(local_world - 1))
    assert str(distributed._device()) == device
    assert str(distributed._device("cpu")) == "cpu"  # device="cpu": the CPU whatever the GPUs
