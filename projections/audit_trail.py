"""The audit trail read model: every :class:`AuditEvent` of ``sluice.audit``, one row each.

Who read which secret when, which token was denied, who changed a pipeline: the API's
``GET /audit`` and ``sluice audit`` query table ``audit_trail``. A fold of the log like every
read model (rebuilt and compared by ``sluice replay --verify``); the events carry names and
ids, never a secret value, so neither does a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from psycopg.types.json import Jsonb

from orchestrator.domain.records import AuditEvent
from projections.runner import Event, Projection
from schemas.pg import Conn
from schemas.topics import AUDIT

__all__ = ["AUDIT_TRAIL", "write_audit"]


def write_audit(conn: Conn, events: Sequence[Event]) -> None:
    """Insert one row per audit event (a repeated ``audit_id`` keeps the first)."""
    rows = [_row(e.record) for e in events if isinstance(e.record, AuditEvent)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_trail (audit_id, occurred_at, actor, subject, action, outcome,"
            " pipeline_id, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (audit_id) DO NOTHING",
            rows,
        )


def _row(event: AuditEvent) -> tuple[object, ...]:
    at = datetime.fromtimestamp(event.occurred_at_ms / 1000, tz=UTC)
    texts = (event.audit_id, event.actor, event.subject, event.action, event.outcome)
    audit_id, actor, subject, action, outcome = map(_text, texts)
    pipeline_id = None if event.pipeline_id is None else _text(event.pipeline_id)
    detail = {_text(k): _text(v) for k, v in event.detail.items()}
    return (audit_id, at, actor, subject, action, outcome, pipeline_id, Jsonb(detail))


def _text(value: str) -> str:
    """``value`` as PostgreSQL can store it (a denied ``/path%00`` carries a NUL)."""
    return value.replace("\x00", "\ufffd")


AUDIT_TRAIL = Projection(
    name="audit_trail",
    topics=(AUDIT.name,),
    handler=write_audit,
    tables=("audit_trail",),
    records=frozenset({"AuditEvent"}),
)
