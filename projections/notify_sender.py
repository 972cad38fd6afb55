"""The sender loop: deliver pending outbox rows at least once, with exponential back-off.

Every ``flaky_poll_s`` (2 s) it also queues the ``test.flaky`` notices of tests that became flaky
(:func:`~projections.notify_store.queue_flaky_onsets`: a join of ``test_flakiness``, which the
test_outcomes projection folds, with the subscriptions; one delivery per subscription and
test, ever, keyed by its idempotency key).

Each delivery is attempted in its own transaction that holds the row's lock (``FOR UPDATE
SKIP LOCKED``, so two notifiers never send one row at once) and records the attempt and the
new status before committing. A crash after sending but before the commit re-sends that one
notification later, with the same idempotency key; a committed ``delivered`` is never sent
again. Failures are retried after ``base · 2^(n-1)`` seconds (capped) until the delivery is
older than ``give_up_after_s``, when it is marked ``abandoned``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from projections.notify_email import email_message, send_email
from projections.notify_settings import NotifierSettings
from projections.notify_slack import slack_request
from projections.notify_store import (
    Due,
    display_target,
    pending_count,
    queue_flaky_onsets,
    record_attempt,
    take_due,
)
from projections.notify_webhook import DeliveryFailed, post_json, webhook_request
from projections.runner import ProjectionUnavailable
from schemas.metrics import NOTIFICATION_DELIVERIES, NOTIFICATION_PENDING
from schemas.pg import DatabaseUnavailable, connect
from schemas.settings import ServiceSettings

__all__ = ["Sender", "backoff_s"]

_log = logging.getLogger("sluice.notifier.sender")


def backoff_s(attempt: int, *, base_s: float, cap_s: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    return float(min(cap_s, base_s * 2 ** (attempt - 1)))


class Sender:
    """Delivers due notifications through their channel until stopped."""

    def __init__(self, settings: ServiceSettings, *, schema: str, config: NotifierSettings) -> None:
        """Send what is queued in PostgreSQL ``schema``."""
        self._settings = settings
        self._schema = schema
        self._config = config
        self.delivered = 0
        self.failed = 0
        self.flaky_queued = 0  # "test became flaky" notices queued from test_flakiness
        self._onsets_due = 0.0  # monotonic time of the next look for them

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set; a lost database connection is opened again."""
        while not stop.is_set():
            try:
                self._serve(stop)
            except (ProjectionUnavailable, DatabaseUnavailable) as e:
                _log.warning("notification sender: %s; retrying", e)
                stop.wait(1.0)

    def _serve(self, stop: threading.Event) -> None:
        timeout = self._config.http_timeout_s
        with (
            connect(
                self._settings.pg_dsn,
                schema=self._schema,
                name=f"sluice-notify-sender {self._schema}",
            ) as conn,
            httpx.Client(timeout=timeout) as client,
        ):
            while not stop.is_set():
                try:
                    self._queue_onsets(conn)
                    sent = self.send_due(conn, client)
                    NOTIFICATION_PENDING.set(pending_count(conn))
                except psycopg.Error as e:
                    raise ProjectionUnavailable(f"cannot read the outbox: {e}") from e
                if not sent:
                    stop.wait(self._config.idle_poll_s)

    def _queue_onsets(self, conn: psycopg.Connection[Any]) -> None:
        """Queue the notices of tests that became flaky, every ``flaky_poll_s`` at most."""
        if time.monotonic() < self._onsets_due:
            return
        with conn.transaction():
            self.flaky_queued += queue_flaky_onsets(conn, self._config.public_url)
        self._onsets_due = time.monotonic() + self._config.flaky_poll_s

    def send_due(self, conn: psycopg.Connection[Any], client: httpx.Client) -> int:
        """Attempt every delivery due now, one transaction each; how many were attempted."""
        attempted = 0
        while True:
            with conn.transaction():
                due = take_due(conn, 1)
                if not due:
                    return attempted
                self._attempt(conn, client, due[0])
            attempted += 1

    def _attempt(self, conn: psycopg.Connection[Any], client: httpx.Client, due: Due) -> None:
        try:
            detail = self._deliver(client, due)
        except DeliveryFailed as e:
            self.failed += 1
            NOTIFICATION_DELIVERIES.labels(due.channel, "failed").inc()
            detail = str(e).replace(due.target, display_target(due.channel, due.target))
            record_attempt(conn, due, outcome="failed", detail=detail, retry_in_s=self._retry(due))
            return
        self.delivered += 1
        NOTIFICATION_DELIVERIES.labels(due.channel, "delivered").inc()
        record_attempt(conn, due, outcome="delivered", detail=detail, retry_in_s=None)

    def _retry(self, due: Due) -> float | None:
        age_s = (datetime.now(UTC) - due.created_at).total_seconds()
        if age_s > self._config.give_up_after_s:
            return None
        c = self._config
        return backoff_s(due.attempts + 1, base_s=c.backoff_base_s, cap_s=c.backoff_cap_s)

    def _deliver(self, client: httpx.Client, due: Due) -> str:
        if due.channel == "webhook":
            body, headers = webhook_request(due.payload, due.signing_secret or "")
            return post_json(client, due.target, body, headers)
        if due.channel == "slack":
            body, headers = slack_request(due.payload)
            return post_json(client, due.target, body, headers)
        smtp = self._config.smtp
        return send_email(smtp, email_message(due.payload, sender=smtp.sender, to=due.target))
