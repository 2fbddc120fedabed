"""End to end: a training process killed with SIGKILL resumes to the exact same weights."""

import contextlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from labkit.checkpoint import CheckpointError
from labkit.train import CHECKPOINT_NAME, load_checkpoint

pytestmark = pytest.mark.slow  # training processes, killed and resumed

WORKER = textwrap.dedent(
    """
    import sys, time
    import torch
    from labkit import MLP, TrainConfig, fit, load_digits, seed_everything

    ckpt_dir, out, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
    data = load_digits(seed=0)
    seed_everything(0)
    model = MLP(hidden=(64,), dropout=0.2)
    cfg = TrainConfig(lr=0.05, batch_size=32, epochs=8, optimizer="momentum", schedule="cosine")
    fit(model, data.train, cfg, val=data.val, checkpoint_dir=ckpt_dir or None, resume=True,
        on_epoch=lambda h: time.sleep(pause), show_progress=False)
    torch.save(model.state_dict(), out)
    """
)


def _run(script, *args, **kwargs):
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], **kwargs)


def test_sigkill_mid_run_then_resume_matches_uninterrupted(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    straight = tmp_path / "straight.pt"
    assert _run(script, "", straight, 0).wait(timeout=120) == 0

    ckpt_dir = tmp_path / "ckpt"
    victim = _run(script, ckpt_dir, tmp_path / "never.pt", 0.4)
    deadline = time.monotonic() + 120
    done = 0
    while done < 3 and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError, CheckpointError):  # not written yet
            done = len(load_checkpoint(ckpt_dir / CHECKPOINT_NAME)["history"]["epoch"])
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    killed_at = len(load_checkpoint(ckpt_dir / CHECKPOINT_NAME)["history"]["epoch"])
    assert 3 <= killed_at < 8, "the kill must land mid-run"
    assert not (tmp_path / "never.pt").exists()

    resumed = tmp_path / "resumed.pt"
    assert _run(script, ckpt_dir, resumed, 0).wait(timeout=120) == 0
    a, b = torch.load(straight), torch.load(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(ckpt_dir / CHECKPOINT_NAME)["history"]["epoch"] == list(range(1, 9))
