"""Audit events of the API on ``sluice.audit`` (key: subject): denied requests and admin
actions. Sent without waiting for the acknowledgement (an audit record must not slow or
fail the request it describes); never carries a token or a secret value."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping

from confluent_kafka import KafkaException

from orchestrator.api.context import Context
from orchestrator.api.tokens import TokenInfo
from orchestrator.domain.records import AuditEvent
from orchestrator.wire import encode_record

__all__ = ["audit", "audit_action"]

_log = logging.getLogger(__name__)


def audit(
    ctx: Context,
    *,
    subject: str,
    action: str,
    actor: str,
    outcome: str,
    pipeline_id: str | None = None,
    detail: Mapping[str, str] | None = None,
) -> None:
    """Append one :class:`AuditEvent` (``outcome`` is ``allowed`` or ``denied``)."""
    event = AuditEvent(
        audit_id=uuid.uuid4().hex,
        subject=subject,
        action=action,
        actor=actor,
        pipeline_id=pipeline_id,
        outcome=outcome,
        detail=dict(detail or {}),
        occurred_at_ms=time.time_ns() // 1_000_000,
    )
    try:
        ctx.producer.produce(ctx.names.audit, key=subject.encode(), value=encode_record(event))
        ctx.producer.poll(0)
    except (KafkaException, BufferError) as e:
        _log.warning("could not record the audit event %s of %s: %s", action, subject, e)


def audit_action(
    ctx: Context,
    token: TokenInfo,
    action: str,
    *,
    pipeline_id: str | None = None,
    detail: Mapping[str, str] | None = None,
) -> None:
    """Record an admin action done with ``token`` (by its id, never its secret)."""
    actor = f"token:{token.token_id}"
    subject = pipeline_id or actor
    audit(
        ctx,
        subject=subject,
        action=action,
        actor=actor,
        outcome="allowed",
        pipeline_id=pipeline_id,
        detail=detail,
    )
