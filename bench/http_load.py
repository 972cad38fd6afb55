"""The HTTP load client the API benchmarks share, and the bare app they measure it against.

One keep-alive connection per client thread over the standard library's http.client: the
client shares this machine's 2 cores with what it measures, and httpx took 1.5 ms of CPU a
request against a bare uvicorn, http.client 0.35 ms.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

HELLO = """
from fastapi import FastAPI
app = FastAPI()
@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
@app.post("/hello")
def post_hello(body: dict[str, object]) -> dict[str, str]:
    return {"hello": "world"}
"""


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


@contextmanager
def child(args: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{args} did not start; see {log}") from None
                time.sleep(0.1)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@dataclass(frozen=True)
class Reply:
    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class LoadClient:
    """HTTP/1.1 with a keep-alive connection per thread and server, over http.client.

    The client shares this machine's 2 cores with what it measures: httpx took 1.5 ms of CPU
    a request against a bare uvicorn, http.client 0.35 ms (and the bare floor went from
    ~400 to ~1,200 requests/s)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = {"Content-Type": "application/json", **headers}
        self._local = threading.local()
        self._made: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post(self, url: str, json: dict[str, Any]) -> Reply:
        return self._request("POST", url, _dumps(json))

    def get(self, url: str) -> Reply:
        return self._request("GET", url, None)

    def close(self) -> None:
        with self._lock:
            for conn in self._made:
                conn.close()

    def _request(self, method: str, url: str, body: str | None) -> Reply:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for fresh in (False, True):  # an idle keep-alive connection the server closed: again
            conn = self._connection(parts.netloc, fresh=fresh)
            try:
                conn.request(method, path, body=body, headers=self._headers)
                response = conn.getresponse()
                return Reply(response.status, response.read().decode())
            except (http.client.RemoteDisconnected, ConnectionError):
                if fresh:
                    raise
        raise AssertionError("unreachable")

    def _connection(self, netloc: str, *, fresh: bool) -> http.client.HTTPConnection:
        conns: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("c", {})
        if fresh or netloc not in conns:
            host, _, port = netloc.partition(":")
            conns[netloc] = http.client.HTTPConnection(host, int(port or 80), timeout=60)
            with self._lock:
                self._made.append(conns[netloc])
        return conns[netloc]


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body)


def load(n: int, concurrency: int, call: Callable[[int], Reply]) -> tuple[float, list[float]]:
    """Run ``call(i)`` for i < n on ``concurrency`` threads; (requests/s, latencies ms)."""
    latencies: list[float] = []

    def one(i: int) -> None:
        start = time.perf_counter()
        response = call(i)
        latencies.append((time.perf_counter() - start) * 1000)
        if response.status_code >= 300:
            raise SystemExit(f"request {i}: {response.status_code} {response.text[:200]}")

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - start), latencies


def row(
    name: str, value: float, floor: float, unit: str, better: str = "lower", *, who: str = "sluice"
) -> None:
    ratio = value / floor if floor else float("inf")
    print(
        f"  {name:<34} {who} {value:9.1f} {unit:<5} floor {floor:9.1f} {unit:<5}"
        f" ratio {ratio:6.2f}x ({better} is better)"
    )


@contextmanager
def child_proc(args: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
