"""Routes of logs: ``GET /runs/{run_id}/logs`` — the archived log, or with ``follow=true``
Server-Sent Events read live from ``sluice.logs``.

Each event's id is the position after it: ``stage/attempt/seq`` when one stage is followed,
and for a whole run a comma-separated list of ``stage/attempt/seq``, the last seq sent of
every stage attempt so far. A client that reconnects with ``Last-Event-ID`` gets exactly
what follows (chunks are ordered by seq within a stage attempt, which shares one key and
so one partition), nothing lost and nothing repeated.
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from confluent_kafka import Consumer, TopicPartition
from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from minio.error import MinioException

from orchestrator.api import queries
from orchestrator.api.artifacts import ArtifactStoreUnavailable
from orchestrator.api.auth import context, not_found, require, visible
from orchestrator.api.context import Context
from orchestrator.api.log_search import (
    NO_NUL,
    LogMatch,
    attempt_archive,
    attempt_text,
    search_run,
)
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.api.trigger import read_run
from orchestrator.domain.records import LogChunk
from orchestrator.wire import WireError, decode_record
from schemas.codec import SchemaError
from schemas.eventlog import consumer, take_batch
from schemas.topics import LOGS

__all__ = ["Position", "log_text", "router", "stream"]

router = APIRouter(tags=["logs"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
_TERMINAL = {"success", "failed", "cancelled"}
_SLACK_MS = 10_000  # chunks are stamped by the runner: start a little before the run
_EVENT_ID = re.compile(r"(?P<stage>.+)/(?P<attempt>\d{1,9})/(?P<seq>\d{1,18})")
_KEEPALIVE_S = 15.0
_ENDED_CHECK_S = 1.0  # how often a follower asks the read model whether the run ended
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (401, 403, 404, 410, 429)
}
Stream = tuple[str, int]


@dataclass
class Position:
    """The last seq sent of every stage attempt; the SSE id."""

    seen: dict[Stream, int]

    @classmethod
    def parse(cls, last_event_id: str | None) -> Position:
        """The position a ``Last-Event-ID`` names (empty when absent or not ours)."""
        seen: dict[Stream, int] = {}
        for item in (last_event_id or "").split(","):
            found = _EVENT_ID.fullmatch(item.strip())
            if found:
                seen[(found["stage"], int(found["attempt"]))] = int(found["seq"])
        return cls(seen)

    def fresh(self, chunk: LogChunk) -> bool:
        """Whether ``chunk`` comes after the position (and then advance past it)."""
        key = (chunk.stage, chunk.attempt)
        if chunk.seq <= self.seen.get(key, -1):
            return False
        self.seen[key] = chunk.seq
        return True

    def id(self) -> str:
        """The SSE id of this position."""
        return ",".join(f"{s}/{a}/{q}" for (s, a), q in self.seen.items())


@router.get(
    "/runs/{run_id}/logs",
    response_class=PlainTextResponse,
    response_model=None,
    responses={**_ERRORS, 200: {"content": {"text/plain": {}, "text/event-stream": {}}}},
)
def get_logs(
    run_id: str,
    *,
    token: Reader,
    ctx: Ctx,
    follow: bool = False,
    stage: Annotated[str | None, Query(max_length=200)] = None,
    attempt: Annotated[int | None, Query(ge=1)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=500, pattern=NO_NUL)] = None,
    last_event_id: Annotated[str | None, Header(max_length=4096)] = None,
) -> StreamingResponse | PlainTextResponse | JSONResponse:
    """A run's log (one stage's with ``stage``); ``follow=true`` streams it as SSE;
    ``attempt=N`` (with ``stage``) is that attempt's log (its archive once archived, 410
    once expired); ``q`` searches the run's lines
    (JSON: run, stage, attempt, line number and line of each match)."""
    found = read_run(ctx, run_id, lambda: _run_and_stages(ctx, run_id))
    if found is None:
        raise not_found(f"run {run_id!r}")
    run, stages = found
    visible(token, run["pipeline_id"])
    if stage is not None and stage not in {s["name"] for s in stages}:
        raise not_found(f"stage {stage!r} of run {run_id}")
    if q is not None:
        return JSONResponse([m.model_dump() for m in _search(ctx, run_id, q, stage)])
    if attempt is not None:
        return PlainTextResponse(_attempt_log(ctx, run_id, stage, attempt))
    if follow:
        return stream(ctx, run, stage, last_event_id)
    wanted = [s for s in stages if stage in (None, s["name"])]
    return PlainTextResponse(log_text(ctx, run, wanted))


def _search(ctx: Context, run_id: str, q: str, stage: str | None) -> list[LogMatch]:
    with ctx.db.connection() as conn:
        return search_run(conn, run_id, q, stage=stage)


def _attempt_log(ctx: Context, run_id: str, stage: str | None, attempt: int) -> str:
    if stage is None:
        raise HTTPException(400, "attempt=N needs stage=S: attempts are numbered per stage")
    with ctx.db.connection() as conn:
        archive = attempt_archive(conn, run_id, stage, attempt)
        text = attempt_text(conn, run_id, stage, attempt) if archive is None else None
    if archive is not None and archive.expired_at is not None:
        raise HTTPException(
            410, f"the log of attempt {attempt} of stage {stage!r} expired {archive.expired_at}"
        )
    if archive is not None:
        return _archived(ctx, archive.storage_path)
    if text is None:
        raise not_found(f"attempt {attempt} of stage {stage!r} of run {run_id}")
    return text


def stream(
    ctx: Context, run: dict[str, Any], stage: str | None, last_event_id: str | None
) -> StreamingResponse:
    """The SSE response following ``run``'s log (one stage's with ``stage``) after
    ``last_event_id`` (the pages' log view uses it too)."""
    frames = _follow(ctx, run, stage, Position.parse(last_event_id))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames, media_type="text/event-stream", headers=headers)


def log_text(ctx: Context, run: dict[str, Any], stages: list[dict[str, Any]]) -> str:
    """The log text of ``stages``: the archives once all are archived, else from Kafka."""
    if stages and all(s["log_path"] for s in stages):
        return "".join(_archived(ctx, s["log_path"]) for s in stages)
    names = {s["name"] for s in stages}
    return "".join(c.data for c in _chunks(ctx, run, names, follow=False) if c is not None)


def _archived(ctx: Context, path: str) -> str:
    bucket, _, key = path.partition("/")
    try:
        obj = ctx.s3.get_object(bucket, key)
        try:
            data = obj.read()
        finally:
            obj.close()
            obj.release_conn()
    except MinioException as e:
        raise ArtifactStoreUnavailable(f"cannot read the archived log {path}: {e}") from e
    return gzip.decompress(data).decode("utf-8", "replace")


def _follow(
    ctx: Context, run: dict[str, Any], stage: str | None, position: Position
) -> Iterator[str]:
    names = None if stage is None else {stage}
    yield "retry: 1000\n\n"
    for chunk in _chunks(ctx, run, names, follow=True):
        if chunk is None:
            yield ": keepalive\n\n"
        elif position.fresh(chunk):
            data = "\n".join(f"data: {line}" for line in chunk.data.split("\n"))
            yield f"id: {position.id()}\nevent: {chunk.stream.value}\n{data}\n\n"
    yield "event: end\ndata: \n\n"


def _chunks(
    ctx: Context, run: dict[str, Any], names: set[str] | None, *, follow: bool
) -> Iterator[LogChunk | None]:
    """The run's log chunks in partition order; with ``follow``, until the run has ended and
    the topic is read to its end (None now and then while waiting, for keep-alives)."""
    reader = _Reader(ctx, run)
    wanted = _Filter(f"{run['run_id']}/".encode(), names)
    try:
        if follow:
            yield from _until_ended(ctx, run["run_id"], reader, wanted)
        ends = reader.ends()
        while not reader.reached(ends):
            yield from wanted(reader.take())
    finally:
        reader.close()


def _until_ended(
    ctx: Context, run_id: str, reader: _Reader, wanted: _Filter
) -> Iterator[LogChunk | None]:
    checked = quiet_since = time.monotonic()
    while True:
        batch = reader.take()
        yield from wanted(batch)
        now = time.monotonic()
        if batch:
            quiet_since = now
        elif now - quiet_since > _KEEPALIVE_S:
            quiet_since = now
            yield None
        if now - checked >= _ENDED_CHECK_S:
            checked = now
            if _ended(ctx, run_id):
                return


@dataclass(frozen=True)
class _Filter:
    """Picks the chunks of one run (and of some stages) out of fetched messages."""

    prefix: bytes
    names: set[str] | None

    def __call__(self, messages: list[Any]) -> Iterator[LogChunk]:
        for msg in messages:
            if (msg.key() or b"").startswith(self.prefix):
                chunk = _decode(msg.value() or b"")
                if chunk is not None and (self.names is None or chunk.stage in self.names):
                    yield chunk


class _Reader:
    """Every partition of ``sluice.logs`` from shortly before the run was created."""

    def __init__(self, ctx: Context, run: dict[str, Any]) -> None:
        self.topic = ctx.names.logs
        self._ends = ctx.end_offsets
        self._c: Consumer = consumer(ctx.settings, group="sluice-api-logs")
        start_ms = int(run["created_at"].timestamp() * 1000) - _SLACK_MS
        parts = range(LOGS.partitions)
        wanted = [TopicPartition(self.topic, p, start_ms) for p in parts]
        # The ends first: a chunk written after them is past them, and one written before the
        # search is found by it. Taken after the search, they skipped a chunk written between
        # the two (a follower opened while the first line came in never showed it).
        ends = self.ends()
        found = self._c.offsets_for_times(wanted, timeout=10)
        self.next = {
            tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition] for tp in found
        }
        self._c.assign([TopicPartition(self.topic, p, o) for p, o in self.next.items()])

    def ends(self) -> dict[int, int]:
        """The current end offset of every partition (asked of the API's client for that:
        asked of this reader's consumer, each would wait behind its fetch in flight)."""
        return {
            p: self._ends.of(TopicPartition(self.topic, p), timeout=10)
            for p in range(LOGS.partitions)
        }

    def reached(self, ends: dict[int, int]) -> bool:
        """Whether every partition has been read up to ``ends``."""
        if all(self.next[p] >= end for p, end in ends.items()):
            return True
        # transaction markers take offsets no message has: trust the consumer's position
        for tp in self._c.position([TopicPartition(self.topic, p) for p in ends]):
            self.next[tp.partition] = max(self.next[tp.partition], tp.offset)
        return all(self.next[p] >= end for p, end in ends.items())

    def take(self) -> list[Any]:
        """The next fetched messages, waiting up to 0.1 s."""
        out = []
        for msg in take_batch(self._c, 500, timeout=0.1):
            if msg.error() is None:
                self.next[msg.partition() or 0] = (msg.offset() or 0) + 1
                out.append(msg)
        return out

    def close(self) -> None:
        """Close the consumer."""
        self._c.close()


def _run_and_stages(
    ctx: Context, run_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    with ctx.db.connection() as conn:
        run = queries.run(conn, run_id)
        return None if run is None else (run, queries.stages_of(conn, run_id))


def _ended(ctx: Context, run_id: str) -> bool:
    with ctx.db.connection() as conn:
        row = queries.run(conn, run_id)
    return row is None or row["status"] in _TERMINAL


def _decode(value: bytes) -> LogChunk | None:
    try:
        chunk = decode_record(value)
    except (SchemaError, WireError):
        return None
    return chunk if isinstance(chunk, LogChunk) else None
