"""A bounded load test of a server on this machine: latency percentiles, throughput, errors.

`load_test(url, body, concurrency=8, requests=400)` sends `requests` POSTs of `body`, from
`concurrency` threads that each keep one HTTP connection open and send the next request
as soon as the last is answered (a closed loop: the load never runs away from the server).
It refuses any host but this machine's loopback: a load test is something one does to
one's own server. Standard library only, so it runs beside a server in any environment.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from labkit.validate import ConfigError, check_int

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class LoadResult:
    """What a load test saw: per-request latency percentiles (ms), throughput, errors."""

    concurrency: int
    requests: int  # sent
    seconds: float  # wall time of the whole test
    p50_ms: float
    p90_ms: float
    p99_ms: float
    throughput_rps: float  # answered requests per second
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> count
    failures: int = 0  # no HTTP answer at all (connection refused or reset, timeout)

    @property
    def errors_4xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if 400 <= s < 500)

    @property
    def errors_5xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    def row(self) -> dict[str, Any]:
        """A flat dict for a table."""
        return {
            "concurrency": self.concurrency, "requests": self.requests,
            "p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "p99_ms": self.p99_ms,
            "throughput_rps": self.throughput_rps, "errors_4xx": self.errors_4xx,
            "errors_5xx": self.errors_5xx, "failures": self.failures,
        }  # fmt: skip


def load_test(
    url: str,
    body: Any,
    *,
    concurrency: int = 8,
    requests: int = 400,
    path: str = "/predict",
    timeout: float = 30.0,
) -> LoadResult:
    """Send `requests` POSTs of `body` (bytes, or a value sent as JSON) to `url` + `path`
    from `concurrency` connections at once; see the module docstring."""
    check_int("concurrency", concurrency, minimum=1)
    check_int("requests", requests, minimum=1)
    if requests > 1_000_000:
        raise ConfigError(f"requests must be at most 1000000 (a bounded test); got {requests}")
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK or parts.port is None:
        raise ConfigError(
            f"url must be http://127.0.0.1:PORT (or localhost, [::1]): labkit's load test only "
            f"targets this machine; got {url!r}"
        )
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
    left = iter(range(requests))
    take = threading.Lock()
    times: list[float] = []
    statuses: Counter[int] = Counter()
    failures = [0]

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        mine, seen, lost = [], Counter(), 0
        while True:
            with take:
                if next(left, None) is None:
                    break
            start = time.perf_counter()
            try:
                connection.request("POST", path, payload, headers)
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                lost += 1
                connection.close()  # reconnects on the next request
                continue
            mine.append(time.perf_counter() - start)
            seen[answer.status] += 1
        connection.close()
        with take:
            times.extend(mine)
            statuses.update(seen)
            failures[0] += lost

    threads = [threading.Thread(target=worker) for _ in range(min(concurrency, requests))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    ms = np.asarray(times) * 1000 if times else np.full(1, np.nan)
    p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
    return LoadResult(
        concurrency, requests, seconds, p50, p90, p99, len(times) / seconds,
        dict(sorted(statuses.items())), failures[0],
    )  # fmt: skip
