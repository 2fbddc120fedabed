"""ONNX export: one self-contained file with a dynamic batch, labkit's metadata, ONNX
Runtime's answers equal PyTorch's, and a file whose answers differ is refused."""

import pytest
import torch

import labkit
from labkit import export


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return labkit.MLP(hidden=(32,)).eval()


def test_export_writes_one_file_that_answers_like_pytorch_at_any_batch(mlp, tmp_path):
    path = export.export_onnx(
        mlp, torch.randn(1, 64), tmp_path / "m.onnx", metadata={"classes": list(range(10))}
    )
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no .onnx.data beside it
    run = export.ort_predictor(export.ort_session(path, threads=1))
    for batch in (1, 5, 300):
        x = torch.randn(batch, 64)
        assert torch.allclose(torch.from_numpy(run(x)), mlp(x), atol=1e-5)
    meta = export.read_metadata(path)
    assert meta["classes"] == list(range(10)) and meta["input_shape"] == ["batch", 64]
    assert "labkit_version" in meta


def test_the_cnn_exports_with_the_same_parity(tmp_path):
    torch.manual_seed(0)
    cnn = labkit.SmallCNN(channels=(4, 8), hidden=16).eval()
    path = export.export_onnx(cnn, torch.randn(2, 64), tmp_path / "c.onnx")
    parity = export.check_parity(cnn, path, 64)
    assert parity.max_abs_diff < 1e-5 and parity.top1_agreement == 1.0


def test_a_file_that_answers_differently_is_refused(mlp, tmp_path):
    path = export.export_onnx(mlp, torch.randn(2, 64), tmp_path / "m.onnx")
    other = labkit.MLP(hidden=(32,)).eval()  # other weights, same shapes
    with pytest.raises(export.ParityError, match="differs from PyTorch"):
        export.check_parity(other, path, 64)


def test_export_refuses_a_model_whose_parity_fails_and_leaves_no_file(mlp, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "check_parity", lambda *a, **k: (_ for _ in ()).throw(
        export.ParityError("forced")))  # fmt: skip
    with pytest.raises(export.ParityError, match="forced"):
        export.export_onnx(mlp, torch.randn(2, 64), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_bad_arguments_get_clear_errors(mlp, tmp_path):
    with pytest.raises(labkit.ConfigError, match="eval"):
        export.export_onnx(labkit.MLP().train(), torch.randn(2, 64), tmp_path / "m.onnx")
    with pytest.raises(labkit.ConfigError, match="features"):
        export.export_onnx(mlp, torch.randn(2, 63), tmp_path / "m.onnx")
    with pytest.raises(labkit.ConfigError, match=r"\(B, F\)"):
        export.export_onnx(mlp, torch.randn(64), tmp_path / "m.onnx")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export.export_onnx(mlp, torch.randn(2, 64), tmp_path / "missing" / "m.onnx")
    with pytest.raises(labkit.ConfigError, match="optimization"):
        export.ort_session(tmp_path / "m.onnx", optimization="max")
    with pytest.raises(FileNotFoundError):
        export.ort_session(tmp_path / "nothing.onnx")
