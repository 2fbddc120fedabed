"""ONNX export: one self-contained file with a dynamic batch, labkit's metadata, ONNX
Runtime's answers equal PyTorch's, and a file whose answers differ is refused."""

import sys

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


def test_litert_export_answers_like_pytorch_and_its_int8_variant_is_smaller(tmp_path):
    torch.manual_seed(0)
    mlp = labkit.MLP(hidden=(256, 256)).eval()  # big enough for the weights to dominate
    fp32 = export.export_litert(mlp, torch.randn(4, 64), tmp_path / "m.tflite")
    run = export.litert_predictor(fp32, threads=1)
    for batch in (1, 64, 5):  # the interpreter resizes the traced graph to each batch
        x = torch.randn(batch, 64)
        assert torch.allclose(torch.from_numpy(run(x)), mlp(x), atol=1e-5)
    int8 = export.export_litert(mlp, torch.randn(4, 64), tmp_path / "q.tflite",
                                quantization="dynamic_int8")  # fmt: skip
    assert int8.stat().st_size < fp32.stat().st_size / 3
    parity = export.check_parity(mlp, int8, 64, min_agreement=0.9)
    assert 0 < parity.max_abs_diff < 0.5


def test_a_conv_net_runs_in_litert_at_the_batch_it_was_traced_with(tmp_path):
    torch.manual_seed(0)
    cnn = labkit.SmallCNN(channels=(4, 8), hidden=16).eval()
    with pytest.raises(ValueError, match="fixes the batch size"):
        export.export_litert(cnn, torch.randn(2, 64), tmp_path / "c.tflite")
    assert not (tmp_path / "c.tflite").exists()  # refused, so not left behind
    path = export.export_litert(cnn, torch.randn(8, 64), tmp_path / "c.tflite", check_batches=(8,))
    assert export.check_parity(cnn, path, 64, batches=(8,)).max_abs_diff < 1e-5


def test_litert_arguments_are_checked_and_a_missing_extra_says_how_to_install(
    mlp, tmp_path, monkeypatch
):
    with pytest.raises(labkit.ConfigError, match="quantization"):
        export.export_litert(mlp, torch.randn(4, 64), tmp_path / "m.tflite", quantization="int4")
    with pytest.raises(labkit.ConfigError, match=r"\.tflite"):
        export.export_litert(mlp, torch.randn(4, 64), tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # as if not installed
    with pytest.raises(ImportError, match=r"labkit\[litert\]"):
        export.export_litert(mlp, torch.randn(4, 64), tmp_path / "m.tflite")
