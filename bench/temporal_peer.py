"""Temporal's development server, the peer issue 17 measures Sluice's trigger path against.

Temporal is a durable, event-history-based workflow engine: the closest peer to what Sluice
is. Its development server (one process, SQLite in a file: ``_PAGE_CACHE_DURABLE``) answers
the same kind of start request over HTTP/JSON (``POST /api/v1/namespaces/{ns}/workflows/{id}``,
answered once the start is written), so the benches drive it with the very load client they
drive Sluice's API with, on the same machine, in the same run.

The server comes from the ``temporal`` CLI, built from the Go module proxy on first use into
``$SLUICE_CACHE_DIR/temporal`` (a few minutes; later runs reuse it). ``SLUICE_TEMPORAL_BIN``
names a binary to use instead. The CLI version is pinned: v1.5.1 embeds Temporal server
1.29.1. (v1.9.1, with server 1.32, is built from a repository with a ``replace`` directive to
a nested module the Go proxy does not serve, so ``go install`` refuses it.)
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.ports import free_ports

CLI_MODULE = "github.com/temporalio/cli/cmd/temporal"
CLI_VERSION = "v1.5.1"
SERVER_VERSION = "1.29.1"


class TemporalUnavailable(RuntimeError):
    """Temporal's dev server could not be built or started; the message says why."""


def temporal_binary() -> Path:
    """The ``temporal`` CLI: ``SLUICE_TEMPORAL_BIN``, else the cached build, else built now."""
    named = os.environ.get("SLUICE_TEMPORAL_BIN")
    if named:
        if not os.access(named, os.X_OK):
            raise TemporalUnavailable(f"SLUICE_TEMPORAL_BIN={named} is not an executable file")
        return Path(named)
    cache = Path(os.environ.get("SLUICE_CACHE_DIR", Path.home() / ".cache/sluice"))
    target = cache / "temporal" / CLI_VERSION
    binary = target / "temporal"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise TemporalUnavailable("building Temporal's CLI needs Go (`go` is not on PATH)")
    print(f"  building the temporal CLI {CLI_VERSION} (server {SERVER_VERSION}) into {target}")
    print("  from the Go module proxy: first time only, a few minutes on 2 cores", flush=True)
    target.mkdir(parents=True, exist_ok=True)
    log = target / "build.log"
    with log.open("wb") as out:
        built = subprocess.run(
            [go, "install", f"{CLI_MODULE}@{CLI_VERSION}"],
            env={**os.environ, "GOBIN": str(target)},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if built.returncode != 0 or not binary.exists():
        raise TemporalUnavailable(f"`go install {CLI_MODULE}@{CLI_VERSION}` failed: see {log}")
    return binary


# Written to the file, not fsynced at each commit: durable as Sluice's log is (Kafka acks a
# write once it is in the page cache; it leaves fsync to the OS). The dev server's own default
# for a file, a rollback journal fsynced at each commit, started 73 workflows/s against 247
# with these (gRPC, 16 clients, this machine); in memory, with nothing durable, 326/s.
_PAGE_CACHE_DURABLE = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off")


@dataclass(frozen=True)
class DevServer:
    """A running dev server, by its HTTP API's base URL."""

    http_url: str

    def start_url(self, workflow_id: str) -> str:
        return f"{self.http_url}/api/v1/namespaces/default/workflows/{workflow_id}"


def start_body(task_queue: str) -> dict[str, object]:
    """A start request's body: a workflow type no worker needs to know to be started."""
    return {"workflowType": {"name": "Bench"}, "taskQueue": {"name": task_queue}}


@contextmanager
def dev_server(workdir: Path, *, log: Path) -> Iterator[DevServer]:
    """Temporal's dev server on free ports, its history in a SQLite file under ``workdir``
    (written as Sluice's log is: to the page cache), without its web UI; stopped on exit."""
    binary = temporal_binary()
    grpc_port, http_port, metrics_port = free_ports(3)
    args = [
        str(binary), "server", "start-dev", "--headless", "--log-level", "warn",
        "--db-filename", str(workdir / "temporal.db"), *_PAGE_CACHE_DURABLE,
        "--port", str(grpc_port), "--http-port", str(http_port),
        "--metrics-port", str(metrics_port),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_http(http_port, proc, log)
        yield DevServer(f"http://127.0.0.1:{http_port}")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_for_http(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TemporalUnavailable(f"Temporal's dev server exited: see {log}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/api/v1/namespaces/default")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise TemporalUnavailable(f"Temporal's dev server did not answer within 60 s: see {log}")
