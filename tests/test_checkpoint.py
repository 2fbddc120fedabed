import os
import pickle

import pytest
import torch

from labkit.checkpoint import CheckpointError, load_model, save_model, save_state
from labkit.models import MLP, SmallCNN
from labkit.train import load_checkpoint


class _Exploit:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "last.pt"
    torch.save({"format": "labkit.checkpoint/1", "model": _Exploit(marker)}, path)
    with pytest.raises(CheckpointError, match=r"refusing to load .* could run arbitrary code"):
        load_checkpoint(path)
    assert not marker.exists()
    # the same file through plain pickle would have run the command: the test is real
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_truncated_and_foreign_files_are_refused(tmp_path):
    good = tmp_path / "good.pt"
    save_state(good, {"format": "labkit.checkpoint/1", "w": torch.ones(1000)})
    torn = tmp_path / "torn.pt"
    torn.write_bytes(good.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(torn)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, other)
    with pytest.raises(CheckpointError, match=r"not a labkit\.checkpoint/1 file"):
        load_checkpoint(other)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(CheckpointError):
        load_checkpoint(plain)


@pytest.mark.parametrize("model", [MLP(hidden=(8, 4), dropout=0.1), SmallCNN(channels=(2, 3))])
def test_model_roundtrip(tmp_path, model):
    path = save_model(model, tmp_path / "model.pt")
    loaded = load_model(path)
    assert type(loaded) is type(model) and not loaded.training
    x = torch.randn(4, 64)
    model.eval()
    assert torch.equal(model(x), loaded(x))
