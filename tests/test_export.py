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
    with pytest.raises(labkit.ConfigError, match="spinning must be True or False"):
        export.ort_session(tmp_path / "m.onnx", spinning="no")
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


def test_data_metadata_round_trips_so_a_server_needs_only_the_file(mlp, tmp_path):
    data = labkit.load_digits(seed=0)
    stored = export.data_metadata(data)
    assert stored["classes"] == [str(d) for d in range(10)] and len(stored["mean"]) == 64
    path = export.export_onnx(mlp, data.train.x[:2], tmp_path / "m.onnx", metadata=stored)
    meta = export.read_metadata(path)
    assert {k: meta[k] for k in stored} == stored  # exact: JSON keeps every float32 digit
    # From the file alone: standardize raw pixels with the stored statistics, run, name.
    mean, std = (torch.tensor(meta[k]) for k in ("mean", "std"))
    raw = data.unstandardize(data.test.x[:50])
    logits = export.ort_predictor(export.ort_session(path))((raw - mean) / std)
    served = [meta["classes"][i] for i in logits.argmax(1)]
    assert served == [str(int(i)) for i in mlp(data.test.x[:50]).argmax(1)]
    named = export.data_metadata(data, class_names=[f"digit {d}" for d in range(10)])
    assert named["classes"][3] == "digit 3"
    with pytest.raises(labkit.ConfigError, match="class_names must be 10 strings"):
        export.data_metadata(data, class_names=["a", "b"])


def test_ort_session_saves_the_graph_it_optimized(mlp, tmp_path):
    import onnx

    path = export.export_onnx(mlp, torch.randn(2, 64), tmp_path / "m.onnx")
    ops = {}
    for level in ("disable", "extended"):
        export.ort_session(path, optimization=level, save_optimized=tmp_path / f"{level}.onnx")
        ops[level] = sorted(n.op_type for n in onnx.load(tmp_path / f"{level}.onnx").graph.node)
    assert ops["disable"] == ["Gemm", "Gemm", "Relu"]
    assert ops["extended"] == ["FusedGemm", "Gemm"]  # Gemm + Relu became one operator
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export.ort_session(path, save_optimized=tmp_path / "missing" / "o.onnx")


def test_metadata_survives_int8_quantization_beside_the_quantizers_own_notes(mlp, tmp_path):
    from labkit.compress import quantize

    stored = {"classes": ["a", "b"], "mean": [0.5]}
    path = export.export_onnx(mlp, torch.randn(2, 64), tmp_path / "m.onnx", metadata=stored)
    int8 = quantize.quantize_onnx_dynamic(path, tmp_path / "q.onnx")
    meta = export.read_metadata(int8)
    assert {k: meta[k] for k in stored} == stored
    assert meta["onnx.quant.pre_process"] == "onnxruntime.quant"  # plain text, kept as text


def test_litert_int8_gate_can_judge_on_real_rows_and_refuses_below_the_threshold(
    mlp, tmp_path, monkeypatch
):
    rows = labkit.load_digits(seed=0).val.x[:40]
    seen = []
    original = export.check_parity
    monkeypatch.setattr(export, "check_parity", lambda *a, **k: seen.append(k) or original(*a, **k))
    with pytest.raises(export.ParityError, match=r"top-1 class on only .* \(min_agreement=1\.01\)"):
        export.export_litert(mlp, torch.randn(2, 64), tmp_path / "q.tflite",
                             quantization="dynamic_int8", min_agreement=1.01,
                             check_inputs=rows)  # fmt: skip
    assert seen[0]["inputs"] is rows and seen[0]["min_agreement"] == 1.01
    assert not (tmp_path / "q.tflite").exists()


def test_ort_predictor_takes_tensors_arrays_of_any_float_and_views(mlp, tmp_path):
    import numpy as np

    path = export.export_onnx(mlp, torch.randn(2, 64), tmp_path / "m.onnx")
    run = export.ort_predictor(export.ort_session(path, threads=1))
    x = torch.randn(6, 64)
    expected = mlp(x).detach().numpy()
    wide = np.repeat(x.numpy(), 2, axis=1)[:, ::2]  # a strided, non-contiguous view of x
    for given in (x, x.numpy(), x.numpy().astype(np.float64), x.numpy().tolist(), wide):
        assert np.allclose(run(given), expected, atol=1e-5)
