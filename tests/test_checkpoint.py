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


def test_altered_weights_are_detected(tmp_path):
    model = MLP(hidden=(8,))
    path = save_model(model, tmp_path / "model.pt")
    data = bytearray(path.read_bytes())
    weight = model.net[0].weight.detach()[3, :2].numpy().tobytes()  # 8 bytes inside the data
    at = data.find(weight)
    assert at > 0
    data[at] ^= 0x01  # one flipped bit in one weight: torch.load alone would accept it
    path.write_bytes(bytes(data))
    assert torch.load(path, weights_only=True)["format"] == "labkit.model/1"
    with pytest.raises(CheckpointError, match="do not match the SHA-256 digest"):
        load_model(path)


def test_digest_sees_values_dtypes_and_structure():
    from labkit.checkpoint import digest

    base = {"w": torch.ones(3), "lr": 0.1, "steps": [1, 2]}
    assert digest(base) == digest({"steps": [1, 2], "lr": 0.1, "w": torch.ones(3)})
    for changed in (
        {**base, "w": torch.tensor([1.0, 1.0, 1.0001])},
        {**base, "w": torch.ones(3, dtype=torch.float64)},
        {**base, "w": torch.ones(1, 3)},
        {**base, "lr": 0.2},
        {**base, "steps": [[1], 2]},
    ):
        assert digest(changed) != digest(base)
