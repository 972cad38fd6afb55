"""Logs through the API: SSE follow from ``sluice.logs`` (live, resumable, ending with the
run), and without follow the text from Kafka or the gunzipped archive.

The chunks are written to ``sluice.logs`` exactly as a runner writes them (same record,
same key ``run_id/stage/attempt``): the API's side is what is under test.
"""

from __future__ import annotations

import gzip
import io
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from minio import Minio

from orchestrator.api.publish import append
from orchestrator.client import Client, Connection, SseEvent
from orchestrator.domain import LogArchived
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import Deployment
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]


def _write(deployment: Deployment, run_id: str, seqs: range, *, stage: str = "build") -> None:
    p = producer(deployment.settings)
    names = TopicNames(deployment.settings.topic_prefix)
    for seq in seqs:
        chunk = LogChunk(
            run_id=run_id,
            stage=stage,
            attempt=1,
            seq=seq,
            stream=LogStream.STDOUT,
            data=f"line {seq}\n",
            final=False,
            occurred_at_ms=time.time_ns() // 1_000_000,
        )
        append(p, names.logs, f"{run_id}/{stage}/1", chunk)


@pytest.fixture
def client(deployment: Deployment) -> Iterator[Client]:
    """A client closed after the test, also when it fails with a stream still open (a leaked
    one failed the next test on a ResourceWarning)."""
    with Client(Connection(deployment.url, deployment.admin_token)) as opened:
        yield opened


def _collect(client: Client, run_id: str, into: list[SseEvent], **kw: str) -> threading.Thread:
    def read() -> None:
        for event in client.follow(run_id, **kw):
            into.append(event)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _end(deployment: Deployment, run_id: str, reader: threading.Thread) -> None:
    """Cancel the run, so its log stream ends, and wait for the reader to finish."""
    with deployment.client() as http:
        http.post(f"/runs/{run_id}/cancel")
    reader.join(30)
    assert not reader.is_alive()


def test_follow_receives_a_line_once_it_is_written(
    deployment: Deployment, trigger: Trigger, client: Client
) -> None:
    run_id = trigger().json()["run_id"]
    events: list[SseEvent] = []
    reader = _collect(client, run_id, events)
    _write(deployment, run_id, range(1))
    eventually(lambda: [e.data for e in events] == ["line 0\n"], timeout=5)
    assert events[0].id == "build/1/0"
    _end(deployment, run_id, reader)


def test_follow_resumes_after_a_dropped_connection_with_nothing_lost_or_repeated(
    deployment: Deployment, trigger: Trigger, client: Client
) -> None:
    run_id = trigger().json()["run_id"]
    _write(deployment, run_id, range(5))
    first: list[SseEvent] = []
    for event in client.follow(run_id):
        first.append(event)
        if len(first) == 3:
            break  # the connection drops here
    _write(deployment, run_id, range(5, 8))
    rest: list[SseEvent] = []
    reader = _collect(client, run_id, rest, last_event_id=first[-1].id or "")
    eventually(lambda: len(rest) >= 5, timeout=10)
    _end(deployment, run_id, reader)
    lines = [e.data for e in first + rest if e.event != "end"]
    assert lines == [f"line {i}\n" for i in range(8)]
    assert rest[-1].event == "end"


def test_follow_of_one_stage_leaves_out_the_others(
    deployment: Deployment, trigger: Trigger, client: Client
) -> None:
    run_id = trigger().json()["run_id"]
    _write(deployment, run_id, range(2), stage="test")
    _write(deployment, run_id, range(1), stage="build")
    events: list[SseEvent] = []
    reader = _collect(client, run_id, events, stage="build")
    eventually(lambda: len(events) == 1, timeout=5)
    assert events[0].id == "build/1/0"
    _end(deployment, run_id, reader)


def test_without_follow_the_log_so_far_comes_from_kafka(
    deployment: Deployment, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    _write(deployment, run_id, range(3))
    with deployment.client() as http:
        text = http.get(f"/runs/{run_id}/logs").text
    assert text == "line 0\nline 1\nline 2\n"


def test_without_follow_an_archived_log_comes_gunzipped_from_storage(
    deployment: Deployment, trigger: Trigger, minio_client: Minio
) -> None:
    run_id = trigger().json()["run_id"]
    key = f"{deployment.settings.topic_prefix}logs/{run_id}/build/1.log.gz"
    packed = gzip.compress(b"archived line\n")
    bucket = deployment.settings.log_bucket
    minio_client.put_object(bucket, key, io.BytesIO(packed), len(packed))
    archived = LogArchived(
        run_id=run_id,
        occurred_at_ms=time.time_ns() // 1_000_000,
        stage="build",
        attempt=1,
        storage_path=f"{bucket}/{key}",
        size_bytes=len(packed),
        lines=1,
    )
    names = TopicNames(deployment.settings.topic_prefix)
    append(producer(deployment.settings), names.inbox, run_id, archived)
    with deployment.client() as http:
        eventually(
            lambda: (
                http.get(f"/runs/{run_id}/logs", params={"stage": "build"}).text
                == "archived line\n"
            ),
            timeout=10,
        )


def test_logs_of_an_unknown_run_or_stage_are_404(deployment: Deployment, trigger: Trigger) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        assert http.get("/runs/nope/logs").status_code == 404
        assert http.get(f"/runs/{run_id}/logs", params={"stage": "nope"}).status_code == 404


def test_fifty_open_log_streams_leave_the_api_answering_and_each_gets_the_line(
    deployment: Deployment, trigger: Trigger, client: Client
) -> None:
    run_id = trigger().json()["run_id"]
    streams: list[list[SseEvent]] = [[] for _ in range(50)]
    readers = [_collect(client, run_id, events) for events in streams]
    with deployment.client() as http:
        eventually(lambda: http.get(f"/runs/{run_id}").status_code == 200, timeout=10)
    _write(deployment, run_id, range(1))
    eventually(lambda: all(events for events in streams), timeout=20)
    with deployment.client() as http:
        http.post(f"/runs/{run_id}/cancel")
    for reader in readers:
        reader.join(30)
    assert all([e.data for e in events][:1] == ["line 0\n"] for events in streams)
