"""The job queue in PostgreSQL: runners with a free slot take the most urgent, oldest job.

Rows are the job messages of every priority's topic (:mod:`runners.job_feed` copies them,
idempotent on ``job_id``). :meth:`JobQueue.take` holds up to ``n`` rows nobody holds, most
urgent first and oldest first, with ``FOR UPDATE SKIP LOCKED``: two runners never take the
same row, and a busy runner holds nothing. :meth:`JobQueue.hand_over` marks a row once the
runner's ``StageClaimed`` is on the log; a hold never handed over (the runner died in
between) ends after :data:`HOLD_S` and the row is taken again. :meth:`JobQueue.announce`
notifies the queue's channel, so waiting runners look at once instead of at their next idle
check; the runner that fed the jobs says when (runners/intake.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from schemas.pg import Conn, DatabaseUnavailable, connect
from schemas.topics import PRIORITIES

__all__ = ["HOLD_S", "JobQueue", "QueuedJob", "Taken", "channel_of", "priority_rank"]

HOLD_S = 30
_KEEP_HANDED_OVER = "1 day"

_TAKE = """
UPDATE job_queue SET claimed_by = %(runner)s, hold_until = now() + %(hold)s * interval '1 s'
WHERE job_id IN (
    SELECT job_id FROM job_queue
    WHERE handed_over_at IS NULL AND (hold_until IS NULL OR hold_until < now())
    ORDER BY priority, enqueued_at_ms, job_id
    LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
)
RETURNING job_id, priority, enqueued_at_ms, message
"""
# One statement, so one round trip: the rows unnested from one array a column. An
# executemany in a transaction took four, and its pipeline's bookkeeping was a quarter of a
# busy runner's time.
_ADD = """
INSERT INTO job_queue (job_id, run_id, priority, enqueued_at_ms, message)
SELECT * FROM unnest(%s::text[], %s::text[], %s::smallint[], %s::bigint[], %s::bytea[])
ON CONFLICT (job_id) DO NOTHING
"""


def channel_of(schema: str) -> str:
    """The channel the runners of the queue in ``schema`` are woken on."""
    return f"sluice_jobs.{schema}"


def priority_rank(priority: str) -> int:
    """0 for the most urgent priority (critical) … 3 for the least (low)."""
    return PRIORITIES.index(priority)


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """One job message to queue."""

    job_id: str
    run_id: str
    priority: str
    enqueued_at_ms: int
    message: bytes


@dataclass(frozen=True, slots=True)
class Taken:
    """A job this runner now holds (its message, as on its topic)."""

    job_id: str
    message: bytes


class JobQueue:
    """One runner's connection to the queue (it also listens to the queue's channel)."""

    def __init__(self, dsn: str, *, schema: str, runner_id: str) -> None:
        """Connect, and listen for new jobs."""
        self._runner = runner_id
        self._dsn, self._schema = dsn, schema
        self._channel_name = channel_of(schema)
        self._channel = sql.Identifier(self._channel_name)
        self._conn: Conn = self._connect()

    def _connect(self) -> Conn:
        conn = connect(self._dsn, schema=self._schema, name=f"sluice-runner-{self._runner}")
        conn.execute(sql.SQL("LISTEN {}").format(self._channel))
        return conn

    def _live(self) -> Conn:
        """The connection, made again if PostgreSQL dropped it (a restart, a network cut)."""
        if self._conn.broken or self._conn.closed:
            self._conn = self._connect()  # raises DatabaseUnavailable while it is down
        return self._conn

    def add(self, jobs: Sequence[QueuedJob]) -> None:
        """Queue ``jobs`` (a job already queued, or already taken, is left as it is); nobody
        is woken (:meth:`announce`)."""
        if not jobs:
            return
        columns = (
            [j.job_id for j in jobs],
            [j.run_id for j in jobs],
            [priority_rank(j.priority) for j in jobs],
            [j.enqueued_at_ms for j in jobs],
            [j.message for j in jobs],
        )
        try:
            self._live().execute(_ADD, columns)
        except psycopg.Error as e:
            raise DatabaseUnavailable(f"cannot queue jobs in PostgreSQL ({e})") from e

    def announce(self) -> None:
        """Wake the other runners listening: jobs may be waiting that this one did not take."""
        self._run(sql.SQL("SELECT pg_notify(%s, '')"), (self._channel_name,))

    def take(self, n: int) -> list[Taken]:
        """Hold up to ``n`` waiting jobs, most urgent and oldest first."""
        params = {"runner": self._runner, "hold": HOLD_S, "n": n}
        try:
            rows = self._live().execute(_TAKE, params).fetchall()
        except psycopg.Error as e:
            raise DatabaseUnavailable(f"cannot take jobs from PostgreSQL ({e})") from e
        rows.sort(key=lambda r: (r[1], r[2], r[0]))  # RETURNING keeps no order
        return [Taken(str(r[0]), bytes(r[3])) for r in rows]

    def hand_over(self, job_id: str) -> None:
        """The runner's claim of ``job_id`` is on the log: the row is never taken again."""
        self._run(
            sql.SQL("UPDATE job_queue SET handed_over_at = now() WHERE job_id = %s"), (job_id,)
        )

    def release(self, job_id: str) -> None:
        """Give back a held job this runner will not claim (another runner takes it)."""
        self._run(
            sql.SQL(
                "UPDATE job_queue SET claimed_by = NULL, hold_until = NULL"
                " WHERE job_id = %s AND claimed_by = %s AND handed_over_at IS NULL"
            ),
            (job_id, self._runner),
        )

    def notified(self) -> bool:
        """Whether another runner announced jobs since the last call (never blocks)."""
        try:  # drain them all: the generator holds the connection until it ends
            conn = self._live()
            own = conn.info.backend_pid
            return any(n.pid != own for n in list(conn.notifies(timeout=0)))
        except psycopg.Error as e:
            raise DatabaseUnavailable(f"lost the job queue's channel ({e})") from e

    def forget_old(self) -> int:
        """Delete rows handed over more than a day ago; how many."""
        query = "DELETE FROM job_queue WHERE handed_over_at < now() - %s::interval"
        try:
            return self._live().execute(query, (_KEEP_HANDED_OVER,)).rowcount
        except psycopg.Error as e:
            raise DatabaseUnavailable(f"cannot clean the job queue ({e})") from e

    def close(self) -> None:
        """Disconnect (rows held and not handed over go back after their hold)."""
        self._conn.close()

    def _run(self, query: sql.SQL | sql.Composed, params: tuple[object, ...] = ()) -> None:
        try:
            self._live().execute(query, params)
        except psycopg.Error as e:
            raise DatabaseUnavailable(f"the job queue failed a query ({e})") from e
