"""The floor of the trigger path's shape under load: what any code of that shape costs here.

Issue 17 asks for 400 trigger POSTs/s from 16 clients on this machine. Sluice's trigger path
has a shape the user fixed (docs/trigger-path.md): an HTTP API appends a request to Kafka, a
faust agent answers it onto a second topic, a transactional writer (the decider) takes it
into a Kafka transaction with its offset, and the API answers once it reads the result. This
bench builds that shape with nothing else in it:
  * an API: uvicorn + FastAPI, one async route that appends the body to topic A and answers
    201 when a read_committed follower thread sees the record's key on topic C;
  * a faust hop A → B: an agent configured as the trigger processor forwarding each record
    (bench/dispatch.py's ``--bare-faust-hop``), without a table, a pipeline file or a decision;
  * a transactional hop B → C: everything the consumer holds (up to 500 records) produced and
    its offsets sent in one transaction, as the decider batches, without decoding anything.
No dedup table, no PostgreSQL, no read model, no timers, no Avro: a lower bound of what
Sluice's trigger costs. It is driven as bench/api.py drives Sluice (the same http.client load
client, 16 clients, an unmeasured warm-up), beside a bare uvicorn POST in the same run, and
prints each process's CPU per POST (from /proc) and the rate that CPU allows on these cores.
Run: .venv/bin/python bench/shape_floor.py [--requests 1200] [--warm 1500] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from bench.cpu import metered, print_cpu_per
from bench.dispatch import hop_topics
from bench.http_load import HELLO, LoadClient, child, child_proc, load, pct, row
from schemas.eventlog import consumer, producer, take_batch
from schemas.settings import ServiceSettings
from tests.support.ports import free_port
from tests.support.stack import delete_topics

FLOOR_API = """
import asyncio, os, threading, uuid
from contextlib import asynccontextmanager
from fastapi import FastAPI, Request
from schemas.eventlog import consumer, producer
from schemas.settings import ServiceSettings

settings = ServiceSettings.from_env()
into, answers = os.environ["FLOOR_IN"], os.environ["FLOOR_OUT"]
waiting: dict[bytes, asyncio.Future[None]] = {}
stop = threading.Event()
out = producer(settings)


def follow(loop: asyncio.AbstractEventLoop) -> None:
    c = consumer(settings, group=f"floor-follower-{uuid.uuid4().hex}")
    c.subscribe([answers])
    while not stop.is_set():
        msg = c.poll(0.1)
        if msg is None or msg.error() is not None:
            continue
        waiter = waiting.pop(msg.key() or b"", None)
        if waiter is not None:
            loop.call_soon_threadsafe(waiter.set_result, None)
    c.close()


@asynccontextmanager
async def lifespan(app: FastAPI):
    threading.Thread(target=follow, args=(asyncio.get_running_loop(),), daemon=True).start()
    yield
    stop.set()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"ok": "yes"}


@app.post("/trigger", status_code=201)
async def trigger(request: Request) -> dict[str, str]:
    key = uuid.uuid4().hex.encode()
    answered = asyncio.get_running_loop().create_future()
    waiting[key] = answered
    out.produce(into, key=key, value=await request.body())
    out.poll(0)
    await asyncio.wait_for(answered, 30)
    return {"run_id": key.decode()}
"""
_PARTS = {
    "floor_api:app": "floor API (uvicorn, FastAPI)",
    "--bare-faust-hop": "floor faust hop",
    "--txn-hop": "floor transactional hop",
    "hello:app": "bare uvicorn",
}
_FLOOR_PARTS = [n for n in _PARTS.values() if n != "bare uvicorn"]
_CLIENT = "load client (this bench)"
_BODY = {"branch": "main", "commit_sha": "0" * 40, "variables": {}}


def transactional_hop(src: str, dst: str) -> None:
    """The decider's transaction, bare and batched: everything fetched (up to 500 records)
    produced to ``dst`` with its offsets in one transaction; until SIGTERM."""
    settings = ServiceSettings.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    c = consumer(settings, group=f"floor-txn-{uuid.uuid4().hex}", **{"auto.offset.reset": "latest"})
    p = producer(settings, transactional_id=f"floor-txn-{uuid.uuid4().hex}")
    p.init_transactions(30)
    c.subscribe([src])
    while not stop.is_set():
        batch = [m for m in take_batch(c, 500, timeout=0.1) if m.error() is None]
        if not batch:
            continue
        p.begin_transaction()
        ends: dict[tuple[str, int], int] = {}
        for m in batch:
            p.produce(dst, key=m.key(), value=m.value())
            ends[(m.topic() or src, m.partition() or 0)] = (m.offset() or 0) + 1
        taken = [TopicPartition(t, part, offset) for (t, part), offset in ends.items()]
        p.send_offsets_to_transaction(taken, c.consumer_group_metadata(), 30)
        p.commit_transaction(30)
    c.close()


@contextmanager
def floor_topics(settings: ServiceSettings, prefix: str) -> Iterator[tuple[str, str, str]]:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    names = hop_topics(admin, f"{prefix}shape.")
    try:
        yield names
    finally:
        delete_topics(admin, list(names))


@contextmanager
def shape(settings: ServiceSettings, tmp: Path) -> Iterator[str]:
    """The shape running on topics of its own: the URL its API takes trigger POSTs at."""
    with ExitStack() as stack:
        a, b, c = stack.enter_context(floor_topics(settings, f"bench{uuid.uuid4().hex[:6]}."))
        (tmp / "floor_api.py").write_text(FLOOR_API)
        (tmp / "faust").mkdir(exist_ok=True)
        env = {
            **os.environ,
            "FLOOR_IN": a,
            "FLOOR_OUT": c,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        here = Path(__file__).resolve()
        txn_hop = [sys.executable, str(here), "--txn-hop", b, c]
        faust_hop = [sys.executable, str(here.with_name("dispatch.py")), "--bare-faust-hop", a, b]
        stack.enter_context(child_proc(txn_hop, env, tmp / "txn.log"))
        stack.enter_context(child_proc([*faust_hop, str(tmp / "faust")], env, tmp / "faust.log"))
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        stack.enter_context(
            child(_uvicorn(tmp, "floor_api:app", port), env, f"{api}/healthz", tmp / "api.log")
        )
        yield f"{api}/trigger"


def _uvicorn(app_dir: Path, app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(app_dir),
        app,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def beside(
    settings: ServiceSettings,
    tmp: Path,
    *,
    requests: int,
    warm: int,
    concurrency: int,
    bare_rate: float,
    bare_ms: float | None = None,
) -> None:
    """The shape given what Sluice's API was given (the load client, concurrency, warm-up):
    POSTs/s, latency and each process's CPU per POST, beside a bare uvicorn's rate."""
    with shape(settings, tmp) as url, closing(LoadClient({})) as http:
        deadline = time.monotonic() + 120
        while http.post(url, _BODY).status_code != 201:  # until faust has joined its group
            if time.monotonic() > deadline:
                raise SystemExit(f"the shape's floor did not answer within 120 s; see {tmp}")
        load(warm, concurrency, lambda i: http.post(url, _BODY))
        (rate, latencies), cpu = metered(
            lambda: load(requests, concurrency, lambda i: http.post(url, _BODY)), _PARTS, _CLIENT
        )
    print("  the trigger path's shape with nothing else in it (bench/shape_floor.py: no dedup")
    print("  table, pipeline file, PostgreSQL, read model or timers; a lower bound):")
    row("shape floor POST /s", rate, bare_rate, "req/s", "higher", who="floor ")
    print(
        f"  {'shape floor POST latency p50/p99':<34} {pct(latencies, 0.5):.1f}"
        f" / {pct(latencies, 0.99):.1f} ms"
    )
    total = print_cpu_per(cpu, requests, "shape floor POST", _FLOOR_PARTS)
    cores = os.cpu_count() or 1
    bare = f" (bare uvicorn: {cores * 1000 / bare_ms:,.0f}/s)" if bare_ms else ""
    print(
        f"  at {total:.2f} ms of CPU a POST, {cores} cores carry at most"
        f" {cores * 1000 / total:,.0f} POSTs/s of this shape{bare}; 400/s needs"
        f" <= {cores * 1000 / 400:.1f} ms a POST"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--warm", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=16)
    opts = parser.parse_args()
    n, conc = opts.requests, opts.concurrency
    with tempfile.TemporaryDirectory(prefix="sluice-shape-") as scratch:
        tmp = Path(scratch)
        (tmp / "hello.py").write_text(HELLO)
        port = free_port()
        bare = f"http://127.0.0.1:{port}/hello"
        uvicorn = _uvicorn(tmp, "hello:app", port)
        with (
            child(uvicorn, dict(os.environ), bare, tmp / "bare.log"),
            closing(LoadClient({})) as http,
        ):
            load(opts.warm, conc, lambda i: http.post(bare, _BODY))
            (bare_rate, _), bare_cpu = metered(
                lambda: load(n, conc, lambda i: http.post(bare, _BODY)), _PARTS, _CLIENT
            )
        print(f"bench/shape_floor.py: {n} requests, {conc} concurrent clients")
        print(f"  (after {opts.warm} unmeasured requests to each)")
        bare_ms = print_cpu_per(bare_cpu, n, "bare uvicorn POST")
        beside(
            ServiceSettings.from_env(),
            tmp,
            requests=n,
            warm=opts.warm,
            concurrency=conc,
            bare_rate=bare_rate,
            bare_ms=bare_ms,
        )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--txn-hop"]:
        transactional_hop(*sys.argv[2:4])
    else:
        sys.exit(main())
