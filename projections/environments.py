"""The environments read model: each environment's deployments and what it runs now.

A fold of the ``Deployment*`` events of ``sluice.runs`` on the projection runner
(:data:`ENVIRONMENTS`, registered in :mod:`projections.registry`), so the tables are rebuilt
exactly by a replay (``sluice replay --verify`` compares them). Every statement is
idempotent (a re-applied event writes the same row).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from projections.read_model import ms_to_time
from projections.runner import Event as Placed
from projections.runner import Projection
from schemas.pg import Conn
from schemas.topics import RUNS

__all__ = ["ENVIRONMENTS", "TABLES", "write_batch"]

TABLES = ("deployments", "environments")
Event = Mapping[str, Any]


def _started(conn: Conn, e: Event) -> None:
    at = ms_to_time(e["occurred_at_ms"])
    conn.execute(
        "INSERT INTO deployments (deployment_id, environment, run_id, stage, attempt, strategy,"
        " image, replicas, port, health_check_path, started_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (deployment_id) DO NOTHING",
        (e["deployment_id"], e["environment"], e["run_id"], e["stage"], e["attempt"],
         e["strategy"], e["image"], e["replicas"], e["port"], e["health_check_path"], at),
    )  # fmt: skip
    _refresh(conn, e["environment"])


# Recomputed from the deployments rows, so the order in which partitions are applied (a
# replay's may differ from the live one's) never changes the result.
_REFRESH = """
WITH mine AS (SELECT * FROM deployments WHERE environment = %(env)s),
     last AS (SELECT deployment_id FROM mine ORDER BY started_at DESC, deployment_id DESC LIMIT 1),
     good AS (SELECT deployment_id, image FROM mine WHERE outcome = 'succeeded'
              ORDER BY finished_at DESC, deployment_id DESC LIMIT 1)
INSERT INTO environments (name, current_image, current_deployment_id, last_deployment_id,
                          updated_at)
SELECT %(env)s, (SELECT image FROM good), (SELECT deployment_id FROM good), last.deployment_id,
       (SELECT max(coalesce(finished_at, started_at)) FROM mine)
FROM last
ON CONFLICT (name) DO UPDATE SET current_image = EXCLUDED.current_image,
    current_deployment_id = EXCLUDED.current_deployment_id,
    last_deployment_id = EXCLUDED.last_deployment_id, updated_at = EXCLUDED.updated_at
"""


def _refresh(conn: Conn, environment: str) -> None:
    conn.execute(_REFRESH, {"env": environment})


def _ended(outcome: str) -> Callable[[Conn, Event], None]:
    def handle(conn: Conn, e: Event) -> None:
        at = ms_to_time(e["occurred_at_ms"])
        conn.execute(
            "UPDATE deployments SET outcome = %s, finished_at = %s, reason = %s,"
            " rolled_back_to = %s, paused_step = NULL, paused_reason = NULL"
            " WHERE deployment_id = %s",
            (outcome, at, e.get("reason"), e.get("to_image") or None, e["deployment_id"]),
        )
        _refresh(conn, e["environment"])

    return handle


def _paused(conn: Conn, e: Event) -> None:
    conn.execute(
        "UPDATE deployments SET outcome = 'paused', paused_step = %s, paused_reason = %s"
        " WHERE deployment_id = %s AND outcome IN ('running', 'paused')",
        (e["step"], e["reason"], e["deployment_id"]),
    )


def _promoted(conn: Conn, e: Event) -> None:
    conn.execute(
        "UPDATE deployments SET outcome = 'running', paused_step = NULL, paused_reason = NULL"
        " WHERE deployment_id = %s AND outcome = 'paused' AND paused_step = %s",
        (e["deployment_id"], e["step"]),
    )


_HANDLERS: Mapping[str, Callable[[Conn, Event], None]] = {
    "DeploymentStarted": _started,
    "DeploymentSucceeded": _ended("succeeded"),
    "DeploymentFailed": _ended("failed"),
    "DeploymentRolledBack": _ended("rolled_back"),
    "DeploymentPaused": _paused,
    "DeploymentPromoted": _promoted,
}


def write_batch(conn: Conn, events: Sequence[Placed]) -> None:
    """Fold a batch's deployment events into the environments tables (others change nothing)."""
    for placed in events:
        handle = _HANDLERS.get(type(placed.record).__name__)
        if handle is not None:
            record = placed.record
            handle(conn, {f.name: getattr(record, f.name) for f in dataclasses.fields(record)})


ENVIRONMENTS = Projection(
    name="environments",
    topics=(RUNS.name,),
    handler=write_batch,
    tables=TABLES,
    records=frozenset(_HANDLERS),  # the rest of sluice.runs is skipped on its header
)
