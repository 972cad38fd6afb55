"""Which run a deduplicated request became: table ``request_aliases``, a fold of the
``RunDeduplicated`` events of ``sluice.runs``.

An API that could not wait for the trigger processor's answer says 202 with the run id the
request was given. When that request is then found to repeat a run of the last 60 s, no run
of that id is ever created; its ``RunDeduplicated`` (v2) names both ids, and this table lets
``GET /runs/{id}`` answer with the existing run instead of a 404 forever. Events written
before v2 carry no requested id and add no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from orchestrator.domain.events import RunDeduplicated
from projections.runner import Event, Projection
from schemas.pg import Conn
from schemas.topics import RUNS

__all__ = ["REQUEST_ALIASES", "write_aliases"]


def write_aliases(conn: Conn, events: Sequence[Event]) -> None:
    """One row per deduplicated request that names its requested run id (the first wins)."""
    rows = [
        (
            e.record.requested_run_id,
            e.record.run_id,
            e.record.request_id,
            datetime.fromtimestamp(e.record.occurred_at_ms / 1000, tz=UTC),
        )
        for e in events
        if isinstance(e.record, RunDeduplicated) and e.record.requested_run_id
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO request_aliases (requested_run_id, run_id, request_id, occurred_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (requested_run_id) DO NOTHING",
            rows,
        )


REQUEST_ALIASES = Projection(
    name="request_aliases",
    topics=(RUNS.name,),
    handler=write_aliases,
    tables=("request_aliases",),
    records=frozenset({"RunDeduplicated"}),
)
