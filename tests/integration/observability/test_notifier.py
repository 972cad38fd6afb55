"""The notifier on the real Kafka and PostgreSQL, delivering to real HTTP and SMTP servers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from orchestrator.cli import main
from projections.notify_store import attempts_log, subscribe
from projections.notify_webhook import SIGNATURE_HEADER, verify
from tests.integration.observability.conftest import PIPELINE, Running, RunsWriter
from tests.integration.observability.receivers import HttpReceiver, SmtpReceiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
SECRET = "test-signing-secret"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.stop()


def webhook(db: psycopg.Connection[Any], url: str, events: tuple[str, ...]) -> str:
    sub = subscribe(
        db,
        pipeline_id=PIPELINE,
        channel="webhook",
        target=url,
        events=events,
        signing_secret=SECRET,
    )
    return sub.subscription_id


def test_a_webhook_receiver_verifies_the_hmac_signature_of_what_it_gets(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
) -> None:
    receiver.start()
    webhook(db, receiver.url, ("run.succeeded",))
    start_notifier()
    run_id = runs.created()
    runs.succeeded(run_id)
    (got,) = eventually(lambda: receiver.requests, timeout=30, what="the webhook")
    assert verify(SECRET, got.body, got.headers[SIGNATURE_HEADER])
    payload = json.loads(got.body)
    assert (payload["event"], payload["run"]["id"]) == ("run.succeeded", run_id)
    assert got.headers["Idempotency-Key"] == payload["id"]


def test_a_receiver_down_then_up_gets_every_notification_once(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
) -> None:
    webhook(db, receiver.url, ("run.failed", "stage.failed"))
    start_notifier()
    run_id = runs.created()
    runs.failed(run_id)
    eventually(
        lambda: len([a for a in attempts_log(db) if a.outcome == "failed"]) >= 4,
        timeout=30,
        what="failed attempts while the receiver is down",
    )
    receiver.start()
    eventually(lambda: len(receiver.requests) == 2, timeout=30, what="both notifications")
    eventually(lambda: _pending(db) == 0, timeout=10, what="the outbox to empty")
    events = sorted(json.loads(r.body)["event"] for r in receiver.requests)
    assert events == ["run.failed", "stage.failed"]


def test_a_restarted_notifier_re_sends_nothing_already_delivered(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
) -> None:
    receiver.start()
    webhook(db, receiver.url, ("run.succeeded",))
    first = start_notifier()
    runs.succeeded(runs.created())
    eventually(lambda: len(receiver.requests) == 1, timeout=30, what="the first webhook")
    first.close()
    second = start_notifier()
    runs.succeeded(runs.created())
    eventually(lambda: len(receiver.requests) == 2, timeout=30, what="the second webhook")
    eventually(lambda: second.notifier.queued >= 1, timeout=10, what="the second notifier to queue")
    ids = [json.loads(r.body)["id"] for r in receiver.requests]
    assert len(set(ids)) == 2
    assert second.notifier.queued == 1


def test_slack_gets_an_incoming_webhook_message_linking_the_run(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
) -> None:
    receiver.start()
    subscribe(db, pipeline_id=PIPELINE, channel="slack", target=receiver.url, events=["run.failed"])
    start_notifier()
    run_id = runs.created()
    runs.failed(run_id)
    (got,) = eventually(lambda: receiver.requests, timeout=30, what="the Slack message")
    message = json.loads(got.body)
    assert set(message) == {"text", "blocks"}
    assert message["blocks"][0]["type"] == "section"
    assert f"<http://sluice.test/runs/{run_id}|" in message["blocks"][0]["text"]["text"]


def test_an_email_arrives_with_the_runs_status(
    db: psycopg.Connection[Any], runs: RunsWriter, start_notifier: Callable[..., Running]
) -> None:
    smtp = SmtpReceiver()
    smtp.start()
    try:
        subscribe(
            db, pipeline_id=PIPELINE, channel="email", target="dev@test", events=["run.failed"]
        )
        start_notifier(smtp_port=smtp.port)
        run_id = runs.created()
        runs.failed(run_id)
        (mail,) = eventually(lambda: smtp.messages, timeout=30, what="the e-mail")
    finally:
        smtp.stop()
    assert mail["To"] == "dev@test"
    assert mail["Subject"] == "[sluice] run failed: notify on main"
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert b"status:   failed" in body
    assert f"http://sluice.test/runs/{run_id}".encode() in body


# the test server takes a login without TLS (no certificates here); aiosmtpd warns about it
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_an_email_goes_through_an_smtp_server_that_requires_a_login(
    db: psycopg.Connection[Any], runs: RunsWriter, start_notifier: Callable[..., Running]
) -> None:
    smtp = SmtpReceiver(login=("sluice", "smtp-pass"))
    smtp.start()
    try:
        subscribe(
            db, pipeline_id=PIPELINE, channel="email", target="ops@test", events=["run.failed"]
        )
        start_notifier(smtp_port=smtp.port, smtp_login=("sluice", "smtp-pass"))
        runs.failed(runs.created())
        (mail,) = eventually(lambda: smtp.messages, timeout=30, what="the e-mail")
    finally:
        smtp.stop()
    assert mail["To"] == "ops@test"


def test_notifications_log_shows_every_attempt_and_list_never_shows_the_secret(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    webhook(db, receiver.url, ("run.succeeded",))
    start_notifier()
    run_id = runs.created()
    runs.succeeded(run_id)
    eventually(lambda: len(attempts_log(db)) >= 2, timeout=30, what="two failed attempts")
    receiver.start()
    eventually(lambda: _pending(db) == 0, timeout=30, what="delivery")
    pg_schema = str(db.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    log = _cli(capsys, "notifications", "--schema", pg_schema, "log", "--run", run_id)
    lines = log.splitlines()
    assert len(lines) >= 3
    assert all("run.succeeded" in line for line in lines)
    assert "\tfailed\t" in lines[0] and "\tdelivered\tHTTP 204" in lines[-1]
    listing = _cli(capsys, "notifications", "--schema", pg_schema, "list")
    assert receiver.url in listing and SECRET not in listing


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0
    return capsys.readouterr().out


def _pending(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM notification_deliveries WHERE status <> 'delivered'")
    return int(row.fetchone()[0])  # type: ignore[index]


def test_a_lost_database_connection_loses_no_notification(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
) -> None:
    receiver.start()
    webhook(db, receiver.url, ("run.succeeded",))
    running = start_notifier()
    schema = str(db.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (f"sluice-notifier {schema}",),
    )
    run_id = runs.created()
    runs.succeeded(run_id)
    (got,) = eventually(lambda: receiver.requests, timeout=30, what="the webhook")
    assert json.loads(got.body)["run"]["id"] == run_id
    assert running.notifier.reconnects >= 1


def test_subscribe_prints_a_generated_secret_once_and_unsubscribe_stops_notifying(
    db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    schema = str(db.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    out = _cli(
        capsys,
        "notifications",
        "--schema",
        schema,
        "subscribe",
        PIPELINE,
        "--webhook",
        "http://h/x",
    )
    sub_id = out.split()[1].rstrip(":")
    secret = out.splitlines()[-1].rsplit(" ", 1)[-1]
    stored = db.execute(
        "SELECT signing_secret FROM notification_subscriptions WHERE subscription_id = %s",
        (sub_id,),
    ).fetchone()
    assert stored == (secret,)
    assert secret not in _cli(capsys, "notifications", "--schema", schema, "list")
    _cli(capsys, "notifications", "--schema", schema, "unsubscribe", sub_id)
    assert sub_id not in _cli(capsys, "notifications", "--schema", schema, "list")
