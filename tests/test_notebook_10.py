"""Notebook 10 (export) runs headless: its parameters are honoured or rejected by name, the
smallest accepted values run to the end, and a re-run into the same out_dir works."""

import os
from functools import partial
from pathlib import Path

import pytest

from labkit.validate import ConfigError

from notebook_runs import checks_passed, metrics, printed, refused_early, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "10_export.ipynb"
REQUIRED = {  # the keys
    "parity_max_abs_diff", "ort_speedup_b1", "onnx_size_bytes", "litert_parity_max_abs_diff",
    "litert_size_bytes",
}  # fmt: skip
_run = partial(run, NOTEBOOK)
_validate = partial(validate, NOTEBOOK)


@pytest.mark.slow
def test_smallest_values_run_and_a_rerun_into_the_same_out_dir_works(tmp_path):
    out = tmp_path / "run"
    smallest = {"epochs": 1, "hidden": 16, "optimization": "disable", "threads": 1, "batch": 2,
                "repeats": 10, "seed": 3, "demos": False}  # fmt: skip
    out.mkdir()
    for stale in ("latency.png", "old.onnx", "old.tflite"):  # an earlier run's files
        (out / stale).write_bytes(b"stale")
    nb = _run(tmp_path, out_dir=str(out), **smallest)
    found = metrics(out)
    assert not any((out / stale).exists() for stale in ("latency.png", "old.onnx", "old.tflite"))
    assert {k: found[k] for k in smallest} == smallest and found.keys() >= REQUIRED
    assert (
        0 <= found["parity_max_abs_diff"] < 1e-4 and 0 <= found["litert_parity_max_abs_diff"] < 1e-4
    )
    assert found["onnx_size_bytes"] == (out / "mlp.onnx").stat().st_size
    assert found["litert_size_bytes"] == (out / "mlp.tflite").stat().st_size
    assert found["ort_speedup_b1"] > 0 and checks_passed(nb)
    # the headline is the median of its rounds, with their range and verdict
    assert found["ort_speedup_b1_min"] <= found["ort_speedup_b1"] <= found["ort_speedup_b1_max"]
    assert found["ort_speedup_b1_verdict"] in ("faster", "slower", "tie")
    assert not list(out.glob("*.onnx.data")) and not (out / "latency.png").exists()
    text = printed(nb)
    assert "(target ≥ 2×: " in text and "served from the file alone: 180 of 180" in text
    assert "refused:" not in text  # demos=False: no demonstrations of refusals

    # Again into the same out_dir, with the demonstrations and other settings: the files and
    # metrics.json are rewritten, and the refusals are shown.
    again = {"epochs": 2, "hidden": 64, "optimization": "extended", "batch": 8, "repeats": 20,
             "seed": 1, "demos": True}  # fmt: skip
    nb = _run(tmp_path, out_dir=str(out), **again)
    found = metrics(out)
    assert {k: found[k] for k in again} == again and found.keys() >= REQUIRED and checks_passed(nb)
    assert found["wide_onnx_size_bytes"] == (out / "wide.onnx").stat().st_size
    assert (out / "latency.png").stat().st_size > 5000 and (out / "wide-int8.tflite").is_file()
    text = printed(nb)
    assert "ONNX Runtime differs from PyTorch by up to" in text and "call model.eval()" in text
    assert "its graph fixes the batch size" in text  # the conv net in LiteRT
    assert "p50_b8_ms" in text and "course CNN" in text and "over 5 rounds" in text
    assert "the faster runtime for raw speed on this CPU:" in text and "at batch 8" in text
    assert "about as fast as" not in text  # no single-measurement verdicts


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"hidden": 8}, "hidden must be an integer >= 16"),
        ({"hidden": 5000}, "hidden must be at most 4096"),
        ({"hidden": 64.0}, "hidden must be an integer"),
        ({"optimization": "max"}, "optimization must be one of 'disable', 'basic'"),
        ({"threads": 0}, "threads must be an integer >= 1"),
        ({"threads": (os.cpu_count() or 1) + 1}, r"threads must be at most \d+, the CPU cores"),
        ({"batch": 1}, "batch must be an integer >= 2"),
        ({"batch": 361}, "batch must be at most 360, the test rows"),
        ({"repeats": 5}, "repeats must be an integer >= 10"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"demos": "yes"}, "demos must be True or False"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
        ({"out_dir": None}, "out_dir must be a string"),
    ],
)
def test_bad_values_are_refused_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


def test_validation_accepts_the_edges():
    namespace = _validate(hidden=4096, batch=360, threads=os.cpu_count() or 1, repeats=10)
    assert namespace["wide_config"].lr == 1e-3 and namespace["config"].epochs == 5
    assert namespace["device"].type in ("cpu", "cuda") and namespace["has_litert"] in (True, False)


@pytest.mark.slow
def test_a_bad_value_stops_a_papermill_run_right_after_the_parameters(tmp_path):
    refused_early(NOTEBOOK, tmp_path, "batch must be at most 360", batch=1000)
