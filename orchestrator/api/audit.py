"""Audit events of the API on ``sluice.audit`` (key: subject): denied requests and admin
actions, each acknowledged by Kafka before the request it describes is answered. Never
carries a token or a secret value (a token by its id, a secret by its name)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping

from orchestrator.api.context import Context
from orchestrator.api.publish import append
from orchestrator.api.tokens import TokenInfo
from orchestrator.domain.records import AuditEvent
from schemas.eventlog import EventLogUnavailable

__all__ = ["audit", "audit_action", "audit_denial"]

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
    """Append one :class:`AuditEvent` (``outcome`` is ``allowed`` or ``denied``) and wait
    for Kafka's acknowledgement; raises :class:`EventLogUnavailable` (503) if it has none."""
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
    append(ctx.producer, ctx.names.audit, subject, event)


def audit_denial(ctx: Context, *, actor: str, action: str, reason: str) -> None:
    """Record a denied request; a denial stands even when Kafka cannot take its record."""
    try:
        audit(
            ctx,
            subject=actor,
            action=action,
            actor=actor,
            outcome="denied",
            detail={"reason": reason},
        )
    except EventLogUnavailable as e:
        _log.warning("could not record the denial of %s to %s: %s", action, actor, e)


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
