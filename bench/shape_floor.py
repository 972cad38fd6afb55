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
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.api import HELLO, LoadClient, child, load, pct, row
from bench.cpu import metered, print_cpu_per
from bench.temporal_peer import free_port
from projections.triggers import await_topics
from schemas.eventlog import consumer, producer, take_batch
from schemas.settings import ServiceSettings
from schemas.topics import TRIGGERS
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
def proc(args: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        started = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        started.send_signal(signal.SIGTERM)
        started.wait(30)


@contextmanager
def floor_topics(settings: ServiceSettings, prefix: str) -> Iterator[tuple[str, str, str]]:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    names = tuple(f"{prefix}shape.{x}" for x in "abc")
    width = TRIGGERS.partitions
    for future in admin.create_topics(
        [NewTopic(t, width, 1) for t in names], request_timeout=60
    ).values():
        future.result()
    await_topics(admin, {t: width for t in names})  # faust trusts its first look
    try:
        yield names[0], names[1], names[2]
    finally:
        delete_topics(admin, list(names))


def measure(opts: argparse.Namespace, api: str, bare: str) -> None:
    n, conc = opts.requests, opts.concurrency
    with closing(LoadClient({})) as http:
        url = f"{api}/trigger"
        while http.post(url, _BODY).status_code != 201:  # until faust has joined its group
            pass
        load(opts.warm, conc, lambda i: http.post(url, _BODY))
        load(opts.warm, conc, lambda i: http.post(f"{bare}/hello", _BODY))
        (bare_rate, _), bare_cpu = metered(
            lambda: load(n, conc, lambda i: http.post(f"{bare}/hello", _BODY)), _PARTS, _CLIENT
        )
        (rate, latencies), cpu = metered(
            lambda: load(n, conc, lambda i: http.post(url, _BODY)), _PARTS, _CLIENT
        )
    cores = os.cpu_count() or 1
    print(f"bench/shape_floor.py: {n} requests, {conc} concurrent clients, {cores} cores")
    print(f"  (after {opts.warm} unmeasured requests to each; the floor has no dedup table,")
    print("  no pipeline file, no PostgreSQL, no read model and no timers: a lower bound)")
    row("shape floor POST /s", rate, bare_rate, "req/s", "higher", who="floor ")
    print(
        f"  {'shape floor POST latency p50/p99':<34} {pct(latencies, 0.5):.1f}"
        f" / {pct(latencies, 0.99):.1f} ms"
    )
    bare_ms = print_cpu_per(bare_cpu, n, "bare uvicorn POST")
    total = print_cpu_per(cpu, n, "shape floor POST")
    print(
        f"  at {total:.2f} ms of CPU a POST, {cores} cores carry at most"
        f" {cores * 1000 / total:,.0f} POSTs/s of this shape (bare uvicorn:"
        f" {cores * 1000 / bare_ms:,.0f}/s); 400/s needs <= {cores * 1000 / 400:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--warm", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=16)
    opts = parser.parse_args()
    settings = ServiceSettings.from_env()
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sluice-shape-")))
        a, b, c = stack.enter_context(floor_topics(settings, prefix))
        (tmp / "floor_api.py").write_text(FLOOR_API)
        (tmp / "hello.py").write_text(HELLO)
        (tmp / "faust").mkdir()
        env = {
            **os.environ,
            "FLOOR_IN": a,
            "FLOOR_OUT": c,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        here = str(Path(__file__).resolve())
        dispatch = str(Path(here).with_name("dispatch.py"))
        stack.enter_context(proc([sys.executable, here, "--txn-hop", b, c], env, tmp / "txn.log"))
        stack.enter_context(
            proc(
                [sys.executable, dispatch, "--bare-faust-hop", a, b, str(tmp / "faust")],
                env,
                tmp / "faust.log",
            )
        )
        api_port, bare_port = free_port(), free_port()
        api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        for app, port, health in (
            ("floor_api:app", api_port, f"{api}/healthz"),
            ("hello:app", bare_port, f"{bare}/hello"),
        ):
            uvicorn = [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(tmp),
                app,
                "--port",
                str(port),
                "--log-level",
                "warning",
            ]
            stack.enter_context(child(uvicorn, env, health, tmp / f"{app}.log"))
        measure(opts, api, bare)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--txn-hop"]:
        transactional_hop(*sys.argv[2:4])
    else:
        sys.exit(main())
