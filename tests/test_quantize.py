"""Quantization: labkit's arithmetic equals ONNX Runtime's and torch's, round trips stay
within half a step, and the deployed int8 files are smaller and still agree."""

import numpy as np
import pytest
import torch
from onnxruntime.quantization.quant_utils import compute_scale_zp

import labkit
from labkit.bench import file_bytes
from labkit.compress import quantize as q
from labkit.export import check_parity, export_onnx, ort_predictor, ort_session


def _weights(seed=0, shape=(16, 32)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * torch.linspace(0.1, 3, shape[0])[:, None]


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", [4, 8])
def test_scale_and_zero_point_equal_onnx_runtimes(symmetric, bits):
    x = _weights() + (0 if symmetric else 1.5)  # an off-centre range for the asymmetric case
    scale, zero_point = q.qparams(x, bits=bits, symmetric=symmetric)
    qmin, qmax = q.qrange(bits, symmetric)
    rmin, rmax = np.array(x.min().item(), np.float32), np.array(x.max().item(), np.float32)
    ort_zp, ort_scale = compute_scale_zp(rmin, rmax, np.array(qmin), np.array(qmax), symmetric)
    assert scale.item() == pytest.approx(float(ort_scale), rel=1e-6)
    assert zero_point.item() == int(ort_zp)


def test_int8_ranges_are_the_ones_onnx_runtime_uses():
    assert q.qrange(8, symmetric=True) == (-127, 127)
    assert q.qrange(8, symmetric=False) == (0, 255)


@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_matches_torchs_own_fake_quantization(per_channel):
    x = _weights()
    scale, zp = q.qparams(x, bits=8, symmetric=False, per_channel=per_channel)
    ours = q.fake_quant(x, bits=8, symmetric=False, per_channel=per_channel)
    if per_channel:
        ref = torch.fake_quantize_per_channel_affine(x, scale, zp.int(), 0, 0, 255)
    else:
        ref = torch.fake_quantize_per_tensor_affine(x, scale.item(), zp.item(), 0, 255)
    assert torch.allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_round_trip_error_is_within_half_a_step(symmetric, per_channel, bits):
    x = _weights()
    scale, _ = q.qparams(x, bits=bits, symmetric=symmetric, per_channel=per_channel)
    step = scale[:, None] if per_channel else scale
    error = q.round_trip_error(x, bits=bits, symmetric=symmetric, per_channel=per_channel)
    assert torch.all(error <= step / 2 + 1e-6)


def test_per_channel_scales_cut_the_error_of_rows_with_small_weights():
    x = _weights()  # row scales grow 30x from the first row to the last
    per_tensor = q.round_trip_error(x, bits=4).mean(dim=1)
    per_channel = q.round_trip_error(x, bits=4, per_channel=True).mean(dim=1)
    assert per_channel[0] < per_tensor[0] / 5
    assert per_channel.mean() < per_tensor.mean()


def test_more_bits_give_a_smaller_error():
    x = _weights()
    errors = [q.round_trip_error(x, bits=b).max().item() for b in (2, 4, 8, 16)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-3


def test_zero_is_exact_and_codes_stay_in_range():
    x = torch.tensor([0.0, 0.3, 5.0, 7.0])  # one-sided: the asymmetric range starts at 0
    scale, zp = q.qparams(x, symmetric=False)
    codes = q.quantize(x, scale, zp, symmetric=False)
    assert codes.min() >= 0 and codes.max() <= 255 and zp.item() == 0
    assert q.dequantize(codes, scale, zp)[0] == 0


def test_fake_quant_passes_the_gradient_straight_through():
    x = _weights().requires_grad_()
    q.fake_quant(x, bits=4).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


@pytest.mark.parametrize("bad", [1, 17, 8.0, "8"])
def test_unsupported_bits_are_refused_by_name(bad):
    with pytest.raises(labkit.ConfigError, match="bits"):
        q.qparams(_weights(), bits=bad)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small MLP trained on digits, exported to ONNX."""
    data = labkit.load_digits(seed=0)
    labkit.seed_everything(0)
    model = labkit.MLP(hidden=(256, 256))
    config = labkit.TrainConfig(lr=1e-3, epochs=5, device="cpu")
    labkit.fit(model, data.train, config, show_progress=False)
    model.eval()
    path = tmp_path_factory.mktemp("onnx") / "mlp.onnx"
    export_onnx(model, data.train.x[:4], path)
    return model, data, path


def _accuracy(path, split):
    run = ort_predictor(ort_session(path, threads=1))
    return float((run(split.x).argmax(1) == split.y.numpy()).mean())


def test_dynamic_and_static_int8_are_several_times_smaller_and_keep_accuracy(trained, tmp_path):
    model, data, path = trained
    dense = _accuracy(path, data.test)
    dynamic = q.quantize_onnx_dynamic(path, tmp_path / "dynamic.onnx")
    static = q.quantize_onnx_static(path, tmp_path / "static.onnx", data.train.x[:256])
    for int8 in (dynamic, static):
        assert file_bytes(int8) < file_bytes(path) / 3  # 4x for the weights, less the scales
        assert _accuracy(int8, data.test) >= dense - 0.02
        parity = check_parity(model, int8, 64, inputs=data.val.x, min_agreement=0.97)
        assert parity.max_abs_diff > 0  # int8 moves the logits, not the classes


def test_an_empty_calibration_set_is_refused(trained, tmp_path):
    _, _, path = trained
    with pytest.raises(labkit.ConfigError, match="calibration"):
        q.quantize_onnx_static(path, tmp_path / "static.onnx", torch.empty(0, 64))
    with pytest.raises(labkit.ConfigError, match="method"):
        q.quantize_onnx_static(path, tmp_path / "s.onnx", torch.zeros(4, 64), method="max")


def test_torchao_int8_and_quantization_aware_training_keep_the_mlp_working(trained):
    model, data, _ = trained
    import copy

    int8 = q.quantize_torchao_(copy.deepcopy(model))
    assert (
        labkit.evaluate(int8, data.test)["accuracy"]
        >= labkit.evaluate(model, data.test)["accuracy"] - 0.02
    )
    student = copy.deepcopy(model).train()
    q.qat_prepare_(student)
    labkit.fit(student, data.train, labkit.TrainConfig(lr=1e-4, epochs=1, device="cpu"),
               show_progress=False)  # fmt: skip
    q.qat_convert_(student.eval())
    assert "Linear" in type(student.net[0]).__name__
    assert type(student.net[0].weight).__name__ != "Parameter"  # real int8 weights now
    assert labkit.evaluate(student, data.test)["accuracy"] > 0.9


def test_dynamic_int8_leaves_convolutions_in_fp32_unless_asked(tmp_path):
    import onnx

    labkit.seed_everything(0)
    cnn = labkit.SmallCNN(channels=(4, 8), hidden=16).eval()
    path = export_onnx(cnn, torch.randn(4, 64), tmp_path / "cnn.onnx")
    ops = {}
    for convolutions in (False, True):
        out = q.quantize_onnx_dynamic(path, tmp_path / f"{convolutions}.onnx",
                                      convolutions=convolutions)  # fmt: skip
        ops[convolutions] = {n.op_type for n in onnx.load(str(out)).graph.node}
        check_parity(cnn, out, 64, min_agreement=0.9)
    assert "Conv" in ops[False] and "ConvInteger" not in ops[False]
    assert "ConvInteger" in ops[True] and "MatMulInteger" in ops[True]
    with pytest.raises(labkit.ConfigError, match="convolutions"):
        q.quantize_onnx_dynamic(path, tmp_path / "x.onnx", convolutions="yes")


def test_qat_refuses_layers_whose_inputs_do_not_fill_whole_groups():
    with pytest.raises(labkit.ConfigError, match=r"'net.2' has 16 inputs.*groups of 32"):
        q.qat_prepare_(labkit.MLP(hidden=(16, 8)))
