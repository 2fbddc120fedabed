"""Serve an exported ONNX model over HTTP: `labkit serve MODEL.onnx`.

One FastAPI app over one ONNX Runtime session, shared by every request (`run` releases the
GIL, so concurrent requests overlap in ONNX Runtime's threads):

- `POST /predict` with `{"inputs": [[...], ...]}` (rows of raw features) returns
  `{"outputs": [[...]], "predictions": [...]}`: the logits and each row's class index. The
  standardization stored in the file's metadata (`labkit.export.data_metadata`) is applied
  here, so a client sends raw features.
- `GET /health` returns `{"status": "ok", ...}` with what the model expects.
- `GET /metrics` is Prometheus text: requests by path and status, a latency histogram,
  rows per request and rows per model call, the model's info.

Every bad request gets a 4xx whose JSON `detail` says what is wrong, and the server keeps
serving. With `batching=True` concurrent requests are gathered, up to `max_batch` rows or
`max_wait_ms`, into one model call. The module imports ONNX Runtime, numpy and the web stack,
not torch and not the training code: a serving process starts fast and ships small.
`serve_replicas` runs the same app as a Ray Serve deployment with N replicas.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from labkit.runtime import ort_session, read_metadata
from labkit.validate import ConfigError, check_bool, check_int

JSON_TYPES = ("application/json",)
F32_MAX = float(np.finfo(np.float32).max)


class ModelError(ConfigError):
    """The file is missing, is not an ONNX model, or is not one labkit can serve."""


class BadRequest(Exception):
    """A request the server refuses: an HTTP status (4xx) and what is wrong, in words."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class ServeConfig:
    """What the server allows and how it calls the model."""

    threads: int | None = None  # ONNX Runtime intra-op threads (None: its own choice)
    max_rows: int = 1024  # rows in one request
    max_body_bytes: int = 4 * 2**20  # a request body larger than this gets a 413
    batching: bool = False  # gather concurrent requests into one model call
    max_batch: int = 64  # with batching: rows per model call, at most (roughly)
    max_wait_ms: float = 2.0  # with batching: how long a batch may keep gathering, at most

    def __post_init__(self) -> None:
        if self.threads is not None:
            check_int("threads", self.threads, minimum=1)
        check_int("max_rows", self.max_rows, minimum=1)
        check_int("max_body_bytes", self.max_body_bytes, minimum=1024)
        check_bool("batching", self.batching)
        check_int("max_batch", self.max_batch, minimum=1)
        wait = self.max_wait_ms
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= 1000:
            raise ConfigError(f"max_wait_ms must be a number from 0 to 1000; got {wait!r}")


class Model:
    """An ONNX file with one input of shape (batch, features), ready to answer raw rows."""

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"no model file at {self.path}")
        try:
            self.session = ort_session(  # idle threads sleep: the cores go to the HTTP side
                self.path, threads=threads, providers=["CPUExecutionProvider"], spinning=False
            )
            self.metadata = read_metadata(self.path)
        except Exception as e:  # ONNX Runtime's errors: InvalidProtobuf, Fail, …
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"{self.path} is not a model ONNX Runtime can load: {first}") from e
        inputs = self.session.get_inputs()
        shape = inputs[0].shape
        if len(inputs) != 1 or len(shape) != 2 or not isinstance(shape[1], int):
            raise ModelError(
                f"{self.path}: labkit serves models with one input of shape (batch, features); "
                f"this one takes {[(i.name, i.shape) for i in inputs]}"
            )
        self.input, self.features = inputs[0].name, shape[1]
        self.output = self.session.get_outputs()[0].name
        mean, std = self.metadata.get("mean"), self.metadata.get("std")
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.where(np.asarray(std) > 0, std, 1).astype(np.float32)
        self.classes = self.metadata.get("classes")

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """Logits for raw rows (float32, (B, features)), standardized as at training."""
        if self.mean is not None and self.std is not None:
            rows = (rows - self.mean) / self.std
        return self.session.run([self.output], {self.input: rows})[0]

    def info(self) -> dict[str, Any]:
        return {
            "model": self.path.name,
            "features": self.features,
            "classes": self.classes,
            "standardized": self.mean is not None,
            "labkit_version": self.metadata.get("labkit_version"),
        }


def parse_inputs(body: bytes, features: int, max_rows: int) -> np.ndarray:
    """The rows of a /predict body as float32 (B, features), or BadRequest saying why not."""
    try:
        payload = json.loads(body, parse_constant=_no_constants)
    except BadRequest:
        raise
    except ValueError as e:  # JSONDecodeError, or bytes that are not UTF-8
        raise BadRequest(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(payload, dict):
        raise BadRequest(422, 'the body must be a JSON object: {"inputs": [[...], ...]}')
    unknown = sorted(set(payload) - {"inputs"})
    if unknown:
        raise BadRequest(422, f'unknown field(s) {unknown}; the body is {{"inputs": [[...], ...]}}')
    rows = payload.get("inputs")
    if not isinstance(rows, list):
        raise BadRequest(422, '"inputs" is missing or not a list of rows: [[...], ...]')
    if not rows:
        raise BadRequest(422, '"inputs" is empty: send at least one row')
    if len(rows) > max_rows:
        raise BadRequest(413, f"{len(rows)} rows in one request; the limit is {max_rows}")
    if not (
        all(type(row) is list and len(row) == features for row in rows)
        and set(map(type, chain.from_iterable(rows))) <= {int, float}  # bool is not a number here
    ):
        raise _bad_row(rows, features)
    x = np.asarray(rows, dtype=np.float64)
    fits = np.abs(x) <= F32_MAX  # False for JSON's 1e999, which reads as infinity
    if not fits.all():
        i, j = np.argwhere(~fits)[0]
        value = float(x[i, j])
        raise BadRequest(422, f"row {i}, column {j} is {value!r}: values must be finite float32")
    return x.astype(np.float32)


def _bad_row(rows: list, features: int) -> BadRequest:
    """What is wrong with the first row that is not a list of `features` numbers, in words."""
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            return BadRequest(
                422, f"row {i} is {_show(row)}, not a list of {features} numbers "
                "(one example is sent as [[...]])",
            )  # fmt: skip
        if len(row) != features:
            return BadRequest(422, f"row {i} has {len(row)} values; the model takes {features}")
        for j, v in enumerate(row):
            if type(v) not in (int, float):
                return BadRequest(422, f"row {i}, column {j} is {_show(v)}, not a number")
    raise AssertionError("every row is a list of numbers")


def _no_constants(name: str) -> Any:
    raise BadRequest(422, f"{name} is not a number JSON allows; values must be finite")


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Batcher:
    """Gathers concurrent requests into one model call; each request gets its own slice of
    the answer back. A batch takes the requests on hand (received and queued) up to
    `max_batch` rows. When the queue runs dry it lets the event loop turn up to `turns`
    times, each turn reading what waits on the sockets and running the handlers that are
    ready (two turns are the least a request already on a socket needs to reach the queue),
    and closes the batch if none came: a lone request is not held back for company that is
    not there. It gathers for at most `max_wait_s` after taking its first request. Under
    load, the requests that queued while the last model call ran go in together.
    `on_call(rows, reason)` hears of each model call: its rows, and why its batch closed,
    "full", "quiet" (no other request on hand) or "wait" (`max_wait_s` was up)."""

    turns = 8  # more turns, fuller batches under load; measured: no cost to a lone request

    def __init__(self, model: Model, max_batch: int, max_wait_s: float, on_call: Any) -> None:
        self.model, self.max_batch, self.max_wait_s = model, max_batch, max_wait_s
        self.on_call = on_call
        self.queue: asyncio.Queue | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.worker: asyncio.Task | None = None

    async def __call__(self, rows: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # first call, or a new event loop (a test client's)
            self.loop, self.queue = loop, asyncio.Queue()
            self.worker = loop.create_task(self._work())
        done = loop.create_future()
        await self.queue.put((rows, done))
        return await done

    async def _work(self) -> None:
        assert self.queue is not None and self.loop is not None
        while True:
            items = [await self.queue.get()]
            queued = len(items[0][0])
            deadline = self.loop.time() + self.max_wait_s
            reason = "full"
            while queued < self.max_batch:
                if self.queue.empty():
                    if self.loop.time() >= deadline:
                        reason = "wait"
                        break
                    for _ in range(self.turns):  # let requests on their way in reach the queue
                        await asyncio.sleep(0)
                        if not self.queue.empty():
                            break
                    else:  # no one else on hand: don't wait for strangers
                        reason = "quiet"
                        break
                items.append(self.queue.get_nowait())
                queued += len(items[-1][0])
            batch = np.concatenate([rows for rows, _ in items])
            self.on_call(len(batch), reason)
            try:
                out = await asyncio.to_thread(self.model, batch)
            except Exception as e:  # the model failed: every waiting request hears it
                for _, done in items:
                    if not done.done():
                        done.set_exception(e)
                continue
            start = 0
            for rows, done in items:
                if not done.done():  # a client that went away has cancelled its future
                    done.set_result(out[start : start + len(rows)])
                start += len(rows)


def create_app(model: Model | str | os.PathLike, config: ServeConfig | None = None) -> Any:
    """The FastAPI app serving `model` (a `Model` or the path of an ONNX file)."""
    config = config or ServeConfig()
    if not isinstance(model, Model):
        model = Model(model, threads=config.threads)
    metrics = _Metrics(model, config)
    app = FastAPI(title=f"labkit serve {model.path.name}", docs_url=None, redoc_url=None)
    app.add_middleware(_Instrument, metrics=metrics)
    if config.batching:

        def on_call(rows: int, reason: str) -> None:
            metrics.model_rows.observe(rows)
            metrics.batch_closes.labels(reason).inc()

        run: Any = Batcher(model, config.max_batch, config.max_wait_ms / 1000, on_call)
    else:

        async def run(rows: np.ndarray) -> np.ndarray:
            metrics.model_rows.observe(len(rows))
            return await asyncio.to_thread(model, rows)

    @app.exception_handler(BadRequest)
    async def refuse(request: Request, e: BadRequest) -> JSONResponse:
        # A 413 leaves the body unread: close the connection, or the client could keep it
        # busy (the next bytes on it would be the refused body, not a request)
        close = {"Connection": "close"} if e.status == 413 else None
        return JSONResponse({"detail": e.detail}, status_code=e.status, headers=close)

    async def predict(request: Request) -> JSONResponse:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in JSON_TYPES:
            raise BadRequest(415, f"Content-Type must be application/json; got {kind or 'none'!r}")
        body = await _read_body(request, config.max_body_bytes)
        rows = parse_inputs(body, model.features, config.max_rows)
        metrics.request_rows.observe(len(rows))
        logits = await run(rows)
        return JSONResponse({"outputs": logits.tolist(), "predictions": logits.argmax(1).tolist()})

    # A plain Starlette route: the body is read and checked above, so FastAPI's parameter
    # machinery would only add time to every request (about 0.1 ms here, measured)
    app.add_route("/predict", predict, methods=["POST"])

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", **model.info(), "config": asdict(config)}

    @app.get("/metrics")
    async def prometheus() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def _read_body(request: Any, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"the body is {int(declared)} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():  # chunked uploads declare no length
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"the body is over {limit} bytes, the limit")
        chunks.append(chunk)
    return b"".join(chunks)


class _Metrics:
    """The server's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self, model: Model, config: ServeConfig) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, Info

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "labkit_requests",
            "HTTP requests by path and status",
            ["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "labkit_request_seconds", "Time to answer a request", ["path"], registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
        )  # fmt: skip
        rows = tuple(2.0**k for k in range(11))  # 1, 2, 4, …, 1024
        self.request_rows = Histogram(
            "labkit_request_rows",
            "Rows in one /predict request",
            registry=self.registry,
            buckets=rows,
        )
        self.model_rows = Histogram(
            "labkit_model_call_rows", "Rows in one model call (batching gathers several requests)",
            registry=self.registry, buckets=rows,
        )  # fmt: skip
        self.batch_closes = Counter(
            "labkit_batch_closes", 'Why batches closed, with batching: "full" (max_batch rows), '
            '"quiet" (no other request on hand) or "wait" (max_wait_ms was up)', ["reason"],
            registry=self.registry,
        )  # fmt: skip
        info = {k: str(v) for k, v in {**model.info(), "batching": config.batching}.items()}
        Info("labkit_model", "The model being served", registry=self.registry).info(info)
        self.paths = {"/predict", "/health", "/metrics"}

    def record(self, path: str, status: int, seconds: float) -> None:
        path = path if path in self.paths else "other"  # unknown paths share one label
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)


class _Instrument:
    """ASGI middleware: counts every HTTP response by path and status and times it."""

    def __init__(self, app: Any, metrics: _Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def note_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, note_status)
        finally:
            self.metrics.record(scope["path"], status, time.perf_counter() - start)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), or ConfigError if it is taken."""
    check_int("port", port, minimum=0)
    if port > 65535:
        raise ConfigError(f"port must be from 0 to 65535; got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {e.strerror}; pick another --port (0: any free port)"
        ) from None
    sock.listen(2048)
    return sock


def serve(
    path: str | os.PathLike,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    config: ServeConfig | None = None,
    log_level: str = "warning",
) -> None:
    """Serve `path` with uvicorn until interrupted (Ctrl-C or SIGTERM). Prints one line,
    `labkit serve: http://HOST:PORT`, once the port is bound (port 0 picks a free one)."""
    import uvicorn

    app = create_app(path, config)  # a bad model fails here, before the port is taken
    sock = bind(host, port)
    url = _url(host, sock.getsockname()[1])
    print(f"labkit serve: {url} serving {Path(path).name} (Ctrl-C stops)", flush=True)
    _exit_with_parent()
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False))
    server.run(sockets=[sock])


def serve_replicas(
    path: str | os.PathLike,
    replicas: int,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    config: ServeConfig | None = None,
) -> None:
    """Serve `path` as a Ray Serve deployment of `replicas` copies of the same app behind
    one HTTP endpoint on a local Ray cluster (the `labkit[ray]` extra), until interrupted."""
    check_int("replicas", replicas, minimum=1)
    config = config or ServeConfig()
    Model(path, threads=config.threads)  # fail here, not in every replica
    bind(host, port).close()  # fail here if the port is taken
    try:
        import ray
        from ray import serve as ray_serve
    except ImportError:
        raise ImportError(
            "--replicas needs Ray Serve, the optional extra labkit[ray]: pip install 'labkit[ray]'"
        ) from None
    cores = os.cpu_count() or 1
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        ray_serve.start(http_options={"host": host, "port": port})
        model = str(Path(path).resolve())

        def build() -> FastAPI:  # a function: Ray Serve calls it in each replica
            return create_app(model, config)

        deployment = ray_serve.deployment(
            num_replicas=replicas, ray_actor_options={"num_cpus": min(1.0, cores / replicas)}
        )(ray_serve.ingress(build)(type("LabkitModel", (), {})))
        ray_serve.run(deployment.bind(), route_prefix="/", name="labkit")
        print(f"labkit serve: {_url(host, port)} serving {Path(path).name} on {replicas} "
              "Ray Serve replicas (Ctrl-C stops)", flush=True)  # fmt: skip
        _exit_with_parent()
        signal.signal(signal.SIGTERM, _interrupt)  # stop as Ctrl-C does: the cluster too
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        ray_serve.shutdown()
        ray.shutdown()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _exit_with_parent() -> None:
    """With LABKIT_SERVE_PARENT=<pid> set (by `labkit.serve.ServerProcess`), stop when that
    process is gone, so a server started from a notebook never outlives its kernel."""
    parent = os.environ.get("LABKIT_SERVE_PARENT")
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn and Ray shut down cleanly

    threading.Thread(target=watch, daemon=True).start()


class ServerProcess:
    """`labkit serve` in a child process, for notebooks, tests and benchmarks:

        with ServerProcess("model.onnx") as server:
            requests.post(server.url + "/predict", json=...)

    It picks a free port, waits until /health answers, and stops the server on `stop()`,
    on leaving the `with`, and when this process ends (even killed: the server watches its
    parent). Starting another one with the same `name` first stops the earlier one, so
    re-running a notebook cell never leaves a server behind. The server runs in a session
    (process group) of its own: interrupting a notebook cell, which sends SIGINT to the
    kernel's whole group, or Ctrl-C in a terminal, does not reach it."""

    _running: ClassVar[dict[str, ServerProcess]] = {}

    def __init__(
        self,
        model: str | os.PathLike,
        *args: str,
        name: str = "default",
        replicas: int = 1,
        timeout: float = 60.0,
    ) -> None:
        import subprocess

        if name in self._running:
            self._running.pop(name).stop()
        replicas = check_int("replicas", replicas, minimum=1)
        port = "0" if replicas == 1 else str(_free_port())  # Ray Serve binds a given port
        command = [sys.executable, "-m", "labkit.cli", "serve", str(model), "--port", port,
                   "--replicas", str(replicas), *args]  # fmt: skip
        env = {**os.environ, "LABKIT_SERVE_PARENT": str(os.getpid())}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            start_new_session=True,  # an interrupt of this process's group misses it
        )  # fmt: skip
        self.log: list[str] = []
        self.url = self._wait_for_url(timeout)
        self._running[name] = self
        threading.Thread(target=self._drain, daemon=True).start()
        self._wait_healthy(timeout)
        import atexit

        atexit.register(self.stop)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line)
            if line.startswith("labkit serve: http"):
                return line.split()[2]
            if time.monotonic() > deadline:
                break
        self.stop()
        raise RuntimeError("labkit serve did not start:\n" + "".join(self.log[-20:]))

    def _drain(self) -> None:  # keep reading, so a chatty server never blocks on a full pipe
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log = [*self.log[-200:], line]

    def _wait_healthy(self, timeout: float) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("labkit serve did not answer /health:\n" + "".join(self.log[-20:]))

    def stop(self, timeout: float = 15.0) -> int | None:
        """Ask the server to stop (SIGTERM), kill it if it has not after `timeout` s; returns
        its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except Exception:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with bind("127.0.0.1", 0) as sock:
        return sock.getsockname()[1]
