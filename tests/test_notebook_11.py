"""Notebook 11 (serving) runs headless: its parameters are honoured or rejected by name, and
the smallest accepted values run to the end into an out_dir holding an earlier run's files."""

from functools import partial
from pathlib import Path

import pytest

from labkit.validate import ConfigError

from notebook_runs import metrics, printed, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "11_serving.ipynb"
REQUIRED = {  # the keys, and the same with batching
    "p50_ms", "p99_ms", "throughput_rps", "errors_5xx", "bad_requests_rejected",
    "batched_p50_ms", "batched_p99_ms", "batched_throughput_rps", "served_accuracy",
}  # fmt: skip
_validate = partial(validate, NOTEBOOK)


@pytest.mark.slow
def test_smallest_values_run_into_an_out_dir_with_stale_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for stale in ("serving.png", "old.onnx"):  # an earlier run's files
        (out / stale).write_bytes(b"stale")
    smallest = {"epochs": 1, "hidden": 16, "concurrency": 1, "requests": 64, "max_wait_ms": 0.0,
                "seed": 3, "demos": False}  # fmt: skip
    nb = run(NOTEBOOK, tmp_path, out_dir=str(out), **smallest)
    found = metrics(out)
    assert {k: found[k] for k in smallest} == smallest and found.keys() >= REQUIRED
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.onnx"]
    assert found["errors_5xx"] == 0 and found["bad_requests_rejected"] == 15
    assert found["served_accuracy"] == found["in_process_accuracy"] > 0.1
    for prefix in ("", "batched_"):
        assert 0 < found[f"{prefix}p50_ms"] <= found[f"{prefix}p99_ms"]
        assert found[f"{prefix}throughput_rps"] > 0
    text = printed(nb)
    assert "all checks passed" in text and "15 of 15 kinds answered with a 4xx, 0 with" in text
    assert "360 of 360 served predictions equal" in text and "--- request:" not in text
    assert text.count("GET /health now: connection refused") == 2
    assert "at concurrency 1, p50 with batching" in text and "max wait 0 ms" in text


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"hidden": 8}, r"hidden must be 0 \(the course MLP\) or from 16 to 4096"),
        ({"hidden": 5000}, "from 16 to 4096"),
        ({"hidden": 64.0}, "hidden must be an integer"),
        ({"concurrency": 0}, "concurrency must be an integer >= 1"),
        ({"concurrency": 65}, "concurrency must be at most 64"),
        ({"requests": 63}, "requests must be an integer >= 64"),
        ({"concurrency": 64, "requests": 255}, "requests must be an integer >= 256"),
        ({"max_wait_ms": -1}, "max_wait_ms must be >= 0"),
        ({"max_wait_ms": 101}, "max_wait_ms must be <= 100"),
        ({"max_wait_ms": "2"}, "max_wait_ms must be a finite number"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"demos": "yes"}, "demos must be True or False"),
        ({"out_dir": None}, "out_dir must be a string"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
    ],
)
def test_bad_values_are_refused_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


def test_validation_accepts_the_edges():
    namespace = _validate(hidden=4096, concurrency=64, requests=256, max_wait_ms=0)
    assert namespace["levels"] == [1, 4, 16, 64]
    assert _validate(concurrency=2, requests=64)["levels"] == [1, 2, 4, 16]
    assert namespace["device"].type in ("cpu", "cuda")
