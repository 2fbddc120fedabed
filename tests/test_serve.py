"""labkit.serve and labkit.loadtest: answers, refusals, metrics, processes, replicas."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

import labkit
from labkit import export
from labkit.loadtest import load_test
from labkit.serve import BadRequest, Model, ModelError, ServeConfig, ServerProcess, create_app
from labkit.validate import ConfigError


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A small digits MLP exported with its standardization, and raw rows to send."""
    data = labkit.load_digits(seed=0)
    torch.manual_seed(0)
    model = labkit.MLP(64, (32,)).eval()
    path = tmp_path_factory.mktemp("serve") / "mlp.onnx"
    export.export_onnx(model, data.test.x[:4], path, metadata=export.data_metadata(data))
    raw = (data.test.x * data.std + data.mean)[:20]
    with torch.no_grad():
        expected = model(data.test.x[:20]).numpy()
    return path, raw.tolist(), expected


@pytest.fixture(params=[False, True], ids=["direct", "batching"])
def client(served, request):
    with TestClient(create_app(served[0], ServeConfig(batching=request.param))) as c:
        yield c


def test_predict_standardizes_raw_rows_and_matches_the_model(client, served):
    _, raw, expected = served
    answer = client.post("/predict", json={"inputs": raw})
    assert answer.status_code == 200
    body = answer.json()
    assert np.abs(np.array(body["outputs"]) - expected).max() < 1e-4
    assert body["predictions"] == expected.argmax(1).tolist()


BAD = {
    "not JSON": (b"{inputs: oops", "application/json", 400, "not valid JSON"),
    "wrong content type": (b'{"inputs": [[0]]}', "text/plain", 415, "Content-Type"),
    "not an object": (b"[[1, 2]]", "application/json", 422, "JSON object"),
    "unknown field": (b'{"inputs": [[1]], "x": 1}', "application/json", 422, "unknown field"),
    "no inputs": (b"{}", "application/json", 422, "missing"),
    "empty batch": (b'{"inputs": []}', "application/json", 422, "empty"),
    "flat row": (b'{"inputs": [1, 2]}', "application/json", 422, "row 0 is 1"),
    "wrong feature count": (b'{"inputs": [[1, 2]]}', "application/json", 422, "takes 64"),
    "a string": (json.dumps({"inputs": [["1"] * 64]}).encode(), "application/json", 422,
                 "not a number"),
    "a bool": (json.dumps({"inputs": [[True] * 64]}).encode(), "application/json", 422,
               "not a number"),
    "NaN": (b'{"inputs": [[NaN' + b", 0" * 63 + b"]]}", "application/json", 422, "NaN"),
    "infinity": (b'{"inputs": [[1e999' + b", 0" * 63 + b"]]}", "application/json", 422,
                 "finite"),
    "beyond float32": (b'{"inputs": [[1e39' + b", 0" * 63 + b"]]}", "application/json", 422,
                       "finite float32"),
    "too many rows": (json.dumps({"inputs": [[0] * 64] * 1025}).encode(), "application/json",
                      413, "limit is 1024"),
    "body too large": (b" " * (4 * 2**20 + 1), "application/json", 413, "limit"),
}  # fmt: skip


@pytest.mark.parametrize("kind", BAD)
def test_every_bad_request_gets_a_4xx_with_a_detail_and_the_server_keeps_serving(
    client, served, kind
):
    body, content_type, status, words = BAD[kind]
    answer = client.post("/predict", content=body, headers={"content-type": content_type})
    assert answer.status_code == status
    assert words in answer.json()["detail"]
    assert client.post("/predict", json={"inputs": served[1][:2]}).status_code == 200


def test_health_and_metrics_move_with_the_requests(client, served):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["features"] == 64 and health["standardized"]
    assert health["classes"] == [str(c) for c in range(10)]
    client.post("/predict", json={"inputs": served[1][:3]})
    client.post("/predict", json={"inputs": []})
    client.get("/no/such/page")
    text = client.get("/metrics").text
    assert 'labkit_requests_total{path="/predict",status="200"} 1.0' in text
    assert 'labkit_requests_total{path="/predict",status="422"} 1.0' in text
    assert 'labkit_requests_total{path="other",status="404"} 1.0' in text
    assert "labkit_request_rows_sum 3.0" in text and "labkit_model_call_rows_count 1.0" in text
    assert 'labkit_request_seconds_count{path="/predict"} 2.0' in text
    batching = client.get("/health").json()["config"]["batching"]
    assert ('labkit_batch_closes_total{reason="quiet"} 1.0' in text) == batching  # alone


def test_parse_inputs_names_the_row_and_column():
    from labkit.serve import parse_inputs

    with pytest.raises(BadRequest, match="row 1, column 2 is null"):
        parse_inputs(b'{"inputs": [[0, 0, 0], [0, 0, null]]}', 3, 10)
    assert parse_inputs(b'{"inputs": [[1, 2.5, -3]]}', 3, 10).dtype == np.float32


class _SlowModel:
    """A stand-in model for the Batcher: echoes its rows, takes `seconds` per call and
    records each call's row count, and (from the Batcher) why each batch closed."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds, self.calls, self.reasons = seconds, [], []

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.calls.append(len(rows))
        time.sleep(self.seconds)
        return rows


def _batcher(model: _SlowModel, max_batch: int = 64, max_wait_ms: float = 1000.0):
    from labkit.serve import Batcher

    def on_call(rows, reason):
        model.reasons.append(reason)

    return Batcher(model, max_batch, max_wait_ms / 1000, on_call=on_call)


def test_the_batcher_gathers_what_is_on_hand_and_never_waits_for_strangers():
    import asyncio

    async def scenario():
        model = _SlowModel(seconds=0.05)
        batcher = _batcher(model, max_batch=4)
        start = time.perf_counter()
        lone = await batcher(np.zeros((1, 2), np.float32))  # nobody else: no waiting
        alone = time.perf_counter() - start
        rows = [np.full((1, 2), i, np.float32) for i in range(10)]
        together = await asyncio.gather(*(batcher(r) for r in rows))  # on hand at once
        first = asyncio.ensure_future(batcher(rows[0]))
        await asyncio.sleep(0.01)  # the first call is running when the next ones arrive
        later = await asyncio.gather(*(batcher(r) for r in rows[1:4]))
        return model, alone, lone, together, await first, later

    model, alone, lone, together, first, later = asyncio.run(scenario())
    calls = model.calls
    assert alone < 0.5  # the wait allowed was 1 s: a lone request went straight through
    assert calls == [1, 4, 4, 2, 1, 3]  # max_batch 4; the three that queued during a call
    assert model.reasons == ["quiet", "full", "full", "quiet", "quiet", "quiet"]
    assert lone.shape == (1, 2) and first[0, 0] == 0  # each request gets its own rows back
    assert [int(r[0, 0]) for r in together] == list(range(10))
    assert [int(r[0, 0]) for r in later] == [1, 2, 3]


def test_the_batcher_stops_gathering_after_max_wait():
    import asyncio

    async def scenario():
        model = _SlowModel()
        batcher = _batcher(model, max_batch=10**6, max_wait_ms=20)  # only the wait can close
        stop = time.perf_counter() + 0.2

        async def stream():  # a new request on every turn of the event loop, for 0.2 s
            sent = []
            while time.perf_counter() < stop:
                sent.append(asyncio.ensure_future(batcher(np.zeros((1, 2), np.float32))))
                await asyncio.sleep(0)
            await asyncio.gather(*sent)
            return len(sent)

        return await stream(), model.calls, model.reasons

    sent, calls, reasons = asyncio.run(scenario())
    assert reasons[:-1] == ["wait"] * (len(calls) - 1)  # the last: the stream had stopped
    # the stream never paused: without the cap, one batch would have taken every request
    assert sum(calls) == sent and len(calls) >= 2 and max(calls) < sent


def test_missing_corrupt_or_unservable_model_files_are_refused(tmp_path):
    with pytest.raises(ModelError, match="no model file"):
        Model(tmp_path / "none.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a model ONNX Runtime can load"):
        Model(tmp_path / "junk.onnx")


@pytest.mark.parametrize(
    ("field", "value"),
    [("threads", 0), ("max_rows", 0), ("max_batch", 0), ("max_wait_ms", -1), ("batching", 1)],
)
def test_bad_server_settings_name_themselves(field, value):
    with pytest.raises(ConfigError, match=field):
        ServeConfig(**{field: value})


def test_the_serving_module_imports_no_torch():
    code = (
        "import sys, labkit.serve, labkit.loadtest, labkit.cli; "
        "bad = [m for m in sys.modules if m == 'torch' or m in ('labkit.train', 'labkit.models')]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_load_test_refuses_other_hosts():
    with pytest.raises(ConfigError, match="only targets this machine"):
        load_test("http://example.com:80", {"inputs": [[0]]})
    with pytest.raises(ConfigError, match="concurrency"):
        load_test("http://127.0.0.1:1", {"inputs": [[0]]}, concurrency=0)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", "serve", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.slow
def test_a_real_server_under_bounded_load_answers_everything_then_stops(served, tmp_path):
    path, raw, _ = served
    with ServerProcess(path, "--batching", name="test") as server:
        result = load_test(server.url, {"inputs": raw[:1]}, concurrency=8, requests=200)
        assert result.statuses == {200: 200} and result.failures == 0
        assert 0 < result.p50_ms <= result.p99_ms and result.throughput_rps > 0
        # the port is taken now: a second server says so and exits
        port = server.url.rsplit(":", 1)[1]
        taken = _cli(str(path), "--port", port)
        assert taken.returncode == 2 and "cannot listen on 127.0.0.1:" in taken.stderr
        metrics = urllib.request.urlopen(server.url + "/metrics").read().decode()
        assert 'labkit_requests_total{path="/predict",status="200"} 200.0' in metrics
    assert server.process.poll() is not None
    missing = _cli(str(tmp_path / "none.onnx"))
    assert missing.returncode == 2 and "no model file" in missing.stderr


@pytest.mark.slow
def test_two_ray_serve_replicas_answer_like_one_process(served):
    path, raw, expected = served
    with ServerProcess(path, replicas=2, name="replicas", timeout=120) as server:
        request = urllib.request.Request(
            server.url + "/predict", json.dumps({"inputs": raw}).encode(),
            {"Content-Type": "application/json"},
        )  # fmt: skip
        body = json.loads(urllib.request.urlopen(request).read())
        assert body["predictions"] == expected.argmax(1).tolist()
        result = load_test(server.url, {"inputs": raw[:1]}, concurrency=4, requests=40)
        assert result.statuses == {200: 40}
        bad = load_test(server.url, b'{"inputs": []}', concurrency=2, requests=4)
        assert bad.statuses == {422: 4}


@pytest.mark.slow
def test_an_oversized_body_is_refused_from_its_header_and_the_connection_closed(served):
    path, raw, _ = served
    with ServerProcess(path, name="test-413") as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            head = (f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
                    f"application/json\r\nContent-Length: {2**30}\r\n\r\n")  # fmt: skip
            sock.sendall(head.encode())  # the body is only declared
            answer = b"".join(iter(lambda: sock.recv(65536), b""))  # until the server closes
        assert answer.startswith(b"HTTP/1.1 413 ") and b"connection: close" in answer.lower()
        assert b'"detail":"the body is 1073741824 bytes' in answer
        request = urllib.request.Request(
            server.url + "/predict", json.dumps({"inputs": raw[:1]}).encode(),
            {"Content-Type": "application/json"},
        )  # fmt: skip
        assert urllib.request.urlopen(request).status == 200  # and it keeps serving


_PARENT = """
import signal, sys, time
from labkit.serve import ServerProcess
signal.signal(signal.SIGINT, lambda *_: print("parent: SIGINT", flush=True))  # a kernel's way
server = ServerProcess(sys.argv[1], name="child")
print(server.url, server.process.pid, flush=True)
time.sleep(300)
"""


def _health(url: str) -> int | str:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as answer:
            return answer.status
    except OSError as e:
        return type(getattr(e, "reason", e)).__name__


@pytest.mark.slow
def test_an_interrupt_of_the_parents_group_misses_the_server_but_the_parents_death_does_not(
    served,
):
    # A notebook's interrupt is SIGINT to the kernel's whole process group; the server must
    # keep serving through it, and still exit when its parent dies (killed, no clean-up).
    command = [sys.executable, "-c", _PARENT, str(served[0])]
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url, pid = parent.stdout.readline().split()
        os.killpg(parent.pid, signal.SIGINT)
        assert parent.stdout.readline() == "parent: SIGINT\n"  # it reached the group
        time.sleep(1.0)
        assert _health(url) == 200 and parent.poll() is None
        assert os.getpgid(int(pid)) != os.getpgid(parent.pid)  # a group of its own
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 15
        while _health(url) == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _health(url) == "ConnectionRefusedError"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if "pid" in locals() and _health(url) == 200:  # a failed check leaves no server behind
            os.kill(int(pid), signal.SIGTERM)
