"""The notifications tables: subscriptions, the durable outbox of deliveries, every attempt.

The notifier projection fills the outbox in ONE transaction with its offsets in
``projection_offsets`` (projection ``notifier``), so each matching event becomes exactly one
delivery row per subscription whatever crashes; the sender then delivers rows at least once.
The signing secret of a webhook is read only to sign; nothing here returns it for display.
"""

from __future__ import annotations

import secrets as _secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.types.json import Jsonb

from projections.notify_payload import (
    SUBSCRIBABLE,
    TEST_FLAKY,
    FlakyOnset,
    RunInfo,
    flaky_delivery_id,
    flaky_payload,
    run_url,
)
from schemas.errors import DomainError

__all__ = [
    "CHANNELS",
    "Attempt",
    "Due",
    "InvalidSubscription",
    "Subscription",
    "attempts_log",
    "display_target",
    "insert_deliveries",
    "list_subscriptions",
    "load_runs",
    "new_signing_secret",
    "pending_count",
    "queue_flaky_onsets",
    "record_attempt",
    "remember_runs",
    "subscribe",
    "subscriptions_for",
    "take_due",
    "unsubscribe",
]

CHANNELS = ("webhook", "slack", "email")


class InvalidSubscription(DomainError):
    """A subscription asks for an unknown channel or event; the message lists the valid ones."""


@dataclass(frozen=True)
class Subscription:
    """Who hears about which events of one pipeline, and how."""

    subscription_id: str
    pipeline_id: str
    channel: str
    target: str
    events: tuple[str, ...]
    created_at_ms: int


@dataclass(frozen=True)
class Due:
    """A delivery the sender should attempt now (its secret only to sign, never to show)."""

    delivery_id: str
    channel: str
    target: str
    signing_secret: str | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    """One recorded send attempt (``sluice notifications log``)."""

    attempted_at: datetime
    delivery_id: str
    attempt: int
    outcome: str
    detail: str
    channel: str
    event: str
    run_id: str
    status: str


def display_target(channel: str, target: str) -> str:
    """``target`` as it may be shown or logged: a Slack webhook URL IS a credential, so only
    its host is kept; other URLs lose their query and user info."""
    if channel == "email":
        return target
    parts = urlsplit(target)
    if channel == "slack":
        return f"{parts.scheme}://{parts.hostname}/…"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def new_signing_secret() -> str:
    """A fresh random webhook signing secret."""
    return _secrets.token_hex(32)


def subscribe(
    conn: psycopg.Connection[Any],
    *,
    pipeline_id: str,
    channel: str,
    target: str,
    events: Sequence[str],
    signing_secret: str | None = None,
) -> Subscription:
    """Store a new subscription and return it."""
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if channel not in CHANNELS or unknown or not events:
        raise InvalidSubscription(
            f"channel must be one of {', '.join(CHANNELS)} and events among"
            f" {', '.join(sorted(SUBSCRIBABLE))} (got {channel!r}, {list(events)!r})"
        )
    row = conn.execute(
        "INSERT INTO notification_subscriptions"
        " (subscription_id, pipeline_id, channel, target, events, signing_secret)"
        f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_SUB_COLUMNS}",
        (uuid.uuid4().hex, pipeline_id, channel, target, list(events), signing_secret),
    ).fetchone()
    assert row is not None, "INSERT ... RETURNING returns its row"
    return _subscription(row)


def unsubscribe(conn: psycopg.Connection[Any], subscription_id: str) -> bool:
    """Stop a subscription and abandon what it still had to send; False if there was none."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE notification_subscriptions SET deleted_at = now()"
            " WHERE subscription_id = %s AND deleted_at IS NULL RETURNING subscription_id",
            (subscription_id,),
        ).fetchone()
        conn.execute(
            "UPDATE notification_deliveries SET status = 'abandoned'"
            " WHERE subscription_id = %s AND status = 'pending'",
            (subscription_id,),
        )
    return row is not None


def list_subscriptions(
    conn: psycopg.Connection[Any], pipeline_id: str | None = None
) -> list[Subscription]:
    """Every live subscription (of ``pipeline_id`` only, if given), oldest first."""
    rows = conn.execute(
        f"SELECT {_SUB_COLUMNS} FROM notification_subscriptions WHERE deleted_at IS NULL"
        " AND (%(p)s::text IS NULL OR pipeline_id = %(p)s) ORDER BY created_at, subscription_id",
        {"p": pipeline_id},
    ).fetchall()
    return [_subscription(r) for r in rows]


def subscriptions_for(
    conn: psycopg.Connection[Any], pipeline_ids: Sequence[str]
) -> dict[str, list[Subscription]]:
    """The live subscriptions of each of ``pipeline_ids``."""
    rows = conn.execute(
        f"SELECT {_SUB_COLUMNS} FROM notification_subscriptions"
        " WHERE deleted_at IS NULL AND pipeline_id = ANY(%s) ORDER BY subscription_id",
        (list(pipeline_ids),),
    ).fetchall()
    found: dict[str, list[Subscription]] = {}
    for r in rows:
        found.setdefault(r[1], []).append(_subscription(r))
    return found


_SUB_COLUMNS = (
    "subscription_id, pipeline_id, channel, target, events,"
    " (extract(epoch FROM created_at) * 1000)::bigint"
)


def _subscription(row: Sequence[Any]) -> Subscription:
    return Subscription(row[0], row[1], row[2], row[3], tuple(row[4]), int(row[5]))


def attempts_log(
    conn: psycopg.Connection[Any], *, run_id: str | None = None, limit: int = 200
) -> list[Attempt]:
    """The latest ``limit`` attempts (of ``run_id`` only, if given), oldest first."""
    rows = conn.execute(
        "SELECT * FROM (SELECT a.attempted_at, a.delivery_id, a.attempt, a.outcome, a.detail,"
        " s.channel, d.event, d.run_id, d.status"
        " FROM notification_attempts a"
        " JOIN notification_deliveries d USING (delivery_id)"
        " JOIN notification_subscriptions s USING (subscription_id)"
        " WHERE (%(r)s::text IS NULL OR d.run_id = %(r)s)"
        " ORDER BY a.attempted_at DESC, a.attempt DESC LIMIT %(n)s) latest"
        " ORDER BY attempted_at, attempt",
        {"r": run_id, "n": limit},
    ).fetchall()
    return [Attempt(*r) for r in rows]


def insert_deliveries(
    conn: psycopg.Connection[Any], rows: Sequence[tuple[str, str, str, str, dict[str, Any]]]
) -> None:
    """Queue (delivery_id, subscription_id, run_id, event, payload) rows; re-queued ids are
    kept as they are."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO notification_deliveries"
            " (delivery_id, subscription_id, run_id, event, payload)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (delivery_id) DO NOTHING",
            [(d, s, r, e, Jsonb(p)) for d, s, r, e, p in rows],
        )


def take_due(conn: psycopg.Connection[Any], limit: int) -> list[Due]:
    """Lock and return up to ``limit`` deliveries due now (inside the caller's transaction);
    rows another sender holds are skipped, so two notifiers never send the same one at once."""
    rows = conn.execute(
        "SELECT d.delivery_id, s.channel, s.target, s.signing_secret, d.payload, d.attempts,"
        " d.created_at FROM notification_deliveries d"
        " JOIN notification_subscriptions s USING (subscription_id)"
        " WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
        " ORDER BY d.next_attempt_at LIMIT %s FOR UPDATE OF d SKIP LOCKED",
        (limit,),
    ).fetchall()
    return [Due(*r) for r in rows]


def record_attempt(
    conn: psycopg.Connection[Any],
    due: Due,
    *,
    outcome: str,
    detail: str,
    retry_in_s: float | None,
) -> None:
    """Record one attempt; mark the delivery delivered, due again in ``retry_in_s`` seconds,
    or abandoned (``retry_in_s`` None after a failure)."""
    attempt = due.attempts + 1
    conn.execute(
        "INSERT INTO notification_attempts (delivery_id, attempt, outcome, detail)"
        " VALUES (%s, %s, %s, %s)",
        (due.delivery_id, attempt, outcome, detail[:1000]),
    )
    status = "delivered" if outcome == "delivered" else "pending"
    if outcome != "delivered" and retry_in_s is None:
        status = "abandoned"
    conn.execute(
        "UPDATE notification_deliveries SET attempts = %s, status = %s,"
        " next_attempt_at = now() + make_interval(secs => %s),"
        " delivered_at = CASE WHEN %s = 'delivered' THEN now() END"
        " WHERE delivery_id = %s",
        (attempt, status, retry_in_s or 0.0, status, due.delivery_id),
    )


def pending_count(conn: psycopg.Connection[Any]) -> int:
    """How many deliveries wait to be sent."""
    row = conn.execute(
        "SELECT count(*) FROM notification_deliveries WHERE status = 'pending'"
    ).fetchone()
    return int(row[0]) if row else 0


def remember_runs(conn: psycopg.Connection[Any], runs: Sequence[RunInfo]) -> None:
    """Keep what notifications need to know of each new run."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO notification_runs"
            " (run_id, pipeline_id, pipeline_name, branch, commit_sha)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id) DO NOTHING",
            [(r.run_id, r.pipeline_id, r.pipeline_name, r.branch, r.commit_sha) for r in runs],
        )


def load_runs(conn: psycopg.Connection[Any], run_ids: Sequence[str]) -> dict[str, RunInfo]:
    """What was remembered of each of ``run_ids``."""
    rows = conn.execute(
        "SELECT run_id, pipeline_id, pipeline_name, branch, commit_sha"
        " FROM notification_runs WHERE run_id = ANY(%s)",
        (list(run_ids),),
    ).fetchall()
    return {r[0]: RunInfo(*r) for r in rows}


def queue_flaky_onsets(conn: psycopg.Connection[Any], public_url: str) -> int:
    """Queue a ``test.flaky`` notice for every test that became flaky (``test_flakiness``,
    folded by the test_outcomes projection) and every live subscription of its pipeline
    that asks for it and existed by then; each (subscription, test) once ever. How many."""
    rows = conn.execute(
        "SELECT s.subscription_id, f.pipeline_id, f.test_name, f.flaky_since_run_id,"
        " f.flaky_since_stage, f.flaky_since_attempt,"
        " (extract(epoch FROM f.flaky_since) * 1000)::bigint, f.onset_runs,"
        " f.onset_failed_runs, f.flaky_since_commit, r.pipeline_name, r.branch"
        " FROM test_flakiness f"
        " JOIN notification_subscriptions s ON s.pipeline_id = f.pipeline_id"
        "  AND s.deleted_at IS NULL AND %s = ANY(s.events) AND f.flaky_since >= s.created_at"
        " LEFT JOIN notification_runs r ON r.run_id = f.flaky_since_run_id"
        " WHERE f.flaky_since IS NOT NULL AND NOT EXISTS (SELECT 1 FROM"
        "  notification_deliveries d WHERE d.delivery_id = left(encode(sha256(convert_to("
        "  s.subscription_id || '|' || %s || '|' || f.pipeline_id || '|' || f.test_name,"
        "  'UTF8')), 'hex'), 32))",
        (TEST_FLAKY, TEST_FLAKY),
    ).fetchall()
    insert_deliveries(conn, [_flaky_row(r, public_url) for r in rows])
    return len(rows)


def _flaky_row(row: Sequence[Any], public_url: str) -> tuple[str, str, str, str, dict[str, Any]]:
    sub_id, pipeline_id, test, run_id, stage, attempt, since_ms, runs, failed = row[:9]
    commit, pipeline_name, branch = row[9:]
    onset = FlakyOnset(pipeline_id, test, run_id, stage, attempt, since_ms, runs, failed)
    run = RunInfo(run_id, pipeline_id, pipeline_name or pipeline_id, branch or "", commit)
    key = flaky_delivery_id(sub_id, pipeline_id, test)
    url = run_url(public_url, run_id)
    return key, sub_id, run_id, TEST_FLAKY, flaky_payload(onset, run, delivery=key, run_url=url)
