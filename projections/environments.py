"""The environments read model: each environment's deployments and what it runs now.

A fold of the ``Deployment*`` events of ``sluice.runs``: :func:`apply` is one handler,
called by the read-model projector inside the transaction that also stores its offsets, so
the tables are rebuilt exactly by a replay (``sluice replay --verify`` compares them). Every
statement is idempotent (a re-applied event writes the same row).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import psycopg

from projections.read_model import ms_to_time

__all__ = ["TABLES", "apply", "handles"]

TABLES = ("deployments", "environments")
Event = Mapping[str, Any]
Conn = psycopg.Connection[Any]


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
            " rolled_back_to = %s WHERE deployment_id = %s",
            (outcome, at, e.get("reason"), e.get("to_image") or None, e["deployment_id"]),
        )
        _refresh(conn, e["environment"])

    return handle


_HANDLERS: Mapping[str, Callable[[Conn, Event], None]] = {
    "DeploymentStarted": _started,
    "DeploymentSucceeded": _ended("succeeded"),
    "DeploymentFailed": _ended("failed"),
    "DeploymentRolledBack": _ended("rolled_back"),
}


def handles(record: str) -> bool:
    """Whether this read model folds ``record``."""
    return record in _HANDLERS


def apply(conn: Conn, record: str, event: Event) -> None:
    """Fold one decoded event into the environments tables (inside the caller's transaction)."""
    _HANDLERS[record](conn, event)
