"""Log lines leave PostgreSQL by event time: the lines of a log archived longer ago than the
retention, or expired, are deleted (search still finds the lines kept), and a replay of
``sluice.logs`` and ``sluice.runs`` from offset 0 gives the same rows, on the real Kafka and
PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from orchestrator.api.log_search import attempt_text, search_run
from orchestrator.domain.events import LogArchived, LogExpired
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from orchestrator.wire import encode_record
from projections.log_lines import LogLinesSettings, log_lines_projection
from projections.replay import verify
from projections.runner import Projection, ProjectionRunner
from schemas.eventlog import append_acknowledged, producer
from schemas.settings import ServiceSettings
from tests.support.waiting import eventually

T0 = 1_790_000_000_000
MINUTE = 60_000
TRIMMING = log_lines_projection(LogLinesSettings(retention_s=600))  # ten minutes
Send = Callable[..., None]


@pytest.fixture
def send(settings: ServiceSettings, make_topic: Callable[..., str]) -> Send:
    """Append a record as the runner (a chunk) or the decider (LogArchived/LogExpired) would."""
    logs = make_topic("sluice.logs", partitions=3)
    runs = make_topic("sluice.runs", partitions=3)
    out = producer(settings)

    def append(record: Any) -> None:
        if isinstance(record, LogChunk):
            key = f"{record.run_id}/{record.stage}/{record.attempt}"
            append_acknowledged(out, logs, key, encode_record(record))
        else:
            append_acknowledged(out, runs, record.run_id, encode_record(record))

    return append


@pytest.fixture
def project(
    settings: ServiceSettings, topic_prefix: str, pg_schema: str
) -> Iterator[Callable[[Projection], ProjectionRunner]]:
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(projection: Projection) -> ProjectionRunner:
        runner = ProjectionRunner(projection, settings, prefix=topic_prefix, schema=pg_schema)
        thread = threading.Thread(target=runner.run, args=(stop,))
        thread.start()
        threads.append(thread)
        eventually(runner.ready.is_set, timeout=60, what="the projection to own partitions")
        return runner

    yield start
    stop.set()
    for t in threads:
        t.join(30)


def chunk(run_id: str, at_ms: int, data: str, *, seq: int = 0, final: bool = True) -> LogChunk:
    return LogChunk(
        run_id=run_id,
        stage="build",
        attempt=1,
        seq=seq,
        stream=LogStream.STDOUT,
        data=data,
        final=final,
        occurred_at_ms=at_ms,
    )


def archived(run_id: str, at_ms: int) -> LogArchived:
    path = f"sluice-logs/logs/{run_id}/build/1.log.gz"
    return LogArchived(
        run_id=run_id,
        stage="build",
        attempt=1,
        storage_path=path,
        size_bytes=10,
        lines=1,
        occurred_at_ms=at_ms,
    )


def expired(run_id: str, at_ms: int) -> LogExpired:
    path = f"sluice-logs/logs/{run_id}/build/1.log.gz"
    return LogExpired(
        run_id=run_id, stage="build", attempt=1, storage_path=path, occurred_at_ms=at_ms
    )


def _history(send: Send) -> None:
    """old: archived at T0; kept: archived 25 minutes later; gone: expired; live: never
    archived; then a late chunk of old (a replay may read it before or after the trim)."""
    send(chunk("old", T0, "old: needle one\n", seq=0, final=False))
    send(chunk("old", T0 + 1, "old: needle two\n", seq=1))
    send(archived("old", T0 + 2))
    send(chunk("gone", T0 + 3, "gone: needle\n"))
    send(archived("gone", T0 + 4))
    send(chunk("kept", T0 + 20 * MINUTE, "kept: needle\n"))
    send(archived("kept", T0 + 20 * MINUTE + 1))
    send(expired("gone", T0 + 21 * MINUTE))
    send(chunk("live", T0 + 25 * MINUTE, "live: needle\n", final=False))


def _caught_up(pg: psycopg.Connection[Any], runner: ProjectionRunner) -> None:
    def applied() -> bool:
        stored = pg.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM projection_offsets WHERE projection = %s",
            (runner.projection.name,),
        ).fetchone()
        pg.commit()
        return bool(stored and stored[0] == 10)  # the ten records of _history + the late one

    eventually(applied, timeout=30, what="every record to be applied")


def test_lines_of_logs_archived_beyond_the_retention_or_expired_leave_and_search_finds_the_rest(
    send: Send,
    project: Callable[[Projection], ProjectionRunner],
    pg: psycopg.Connection[Any],
) -> None:
    runner = project(TRIMMING)
    _history(send)
    send(chunk("old", T0 + 26 * MINUTE, "old: late needle\n", seq=2))
    _caught_up(pg, runner)
    found = [
        (m.run_id, m.line)
        for r in ("old", "gone", "kept", "live")
        for m in search_run(pg, r, "NEEDLE")
    ]
    assert found == [("kept", "kept: needle"), ("live", "live: needle")]
    assert attempt_text(pg, "old", "build", 1) is None
    assert attempt_text(pg, "gone", "build", 1) is None
    trimmed = pg.execute("SELECT run_id FROM log_archives WHERE trimmed ORDER BY run_id")
    assert trimmed.fetchall() == [("gone",), ("old",)]
    assert pg.execute(
        "SELECT count(*) FROM log_line_tails WHERE run_id IN ('old', 'gone')"
    ).fetchone() == (0,)


def test_the_trimmed_log_lines_rebuilt_from_the_log_equal_the_live_ones(
    *,
    send: Send,
    project: Callable[[Projection], ProjectionRunner],
    pg: psycopg.Connection[Any],
    settings: ServiceSettings,
    topic_prefix: str,
    pg_schema: str,
) -> None:
    runner = project(TRIMMING)  # live: record by record; the rebuild: in big batches
    _history(send)
    send(chunk("old", T0 + 26 * MINUTE, "old: late needle\n", seq=2))
    _caught_up(pg, runner)
    report = verify(settings, projection=TRIMMING, live_schema=pg_schema, prefix=topic_prefix)
    assert report.identical, report
    rows = {t.table: t.live_rows for t in report.tables}
    assert rows == {"log_lines": 2, "log_line_tails": 2, "log_archives": 3, "log_lines_clock": 1}
