"""The first time a test becomes flaky its pipeline's channels hear of it, once: the real
test_outcomes projection folds reports appended to ``sluice.tests`` and the real notifier
delivers to real HTTP and SMTP receivers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from orchestrator.domain.records import CaseOutcome, TestOutcomesReported
from orchestrator.wire import encode_record
from projections.junit_outcomes import TEST_OUTCOMES
from projections.notify_store import subscribe
from projections.runner import ProjectionRunner, wait_until
from schemas.eventlog import append_acknowledged, producer
from schemas.settings import ServiceSettings
from tests.integration.observability.conftest import PIPELINE, Running, RunsWriter, now_ms
from tests.integration.observability.receivers import HttpReceiver, SmtpReceiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
Report = Callable[[str, dict[str, bool]], None]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def report(
    settings: ServiceSettings,
    make_topic: Callable[..., str],
    topic_prefix: str,
    pg_schema: str,
    db: psycopg.Connection[Any],
) -> Iterator[Report]:
    """Append a run's test outcomes as a runner does, with the test_outcomes projection
    folding them in a thread; returns once they are folded."""
    topic = make_topic("sluice.tests")
    stop = threading.Event()
    runner = ProjectionRunner(TEST_OUTCOMES, settings, prefix=topic_prefix, schema=pg_schema)
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    eventually(runner.ready.is_set, timeout=60, what="the projection to own its partition")
    out = producer(settings)

    def send(run_id: str, outcomes: dict[str, bool]) -> None:
        tests = tuple(CaseOutcome(name=n, passed=p) for n, p in sorted(outcomes.items()))
        record = TestOutcomesReported(
            run_id=run_id,
            pipeline_id=PIPELINE,
            commit_sha=run_id[:8] * 5,
            stage="unit",
            attempt=1,
            tests=tests,
            occurred_at_ms=now_ms(),
        )
        part, offset = append_acknowledged(out, topic, PIPELINE, encode_record(record))
        wait_until(db, TEST_OUTCOMES.name, topic, part, offset, timeout=30)

    yield send
    stop.set()
    thread.join(30)


def _flaky_notices(receiver: HttpReceiver) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body) for r in receiver.requests]
    return [b for b in bodies if b["event"] == "test.flaky"]


def test_a_test_that_becomes_flaky_is_announced_once_and_never_again(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
    report: Report,
) -> None:
    subscribe(
        db, pipeline_id=PIPELINE, channel="webhook", target=receiver.url, events=["test.flaky"]
    )
    start_notifier()
    first, second, third = runs.created(), runs.created(), runs.created()
    report(first, {"t.a": True, "t.b": True})
    report(second, {"t.a": False, "t.b": True})  # t.a: 1 failure in 2 runs, flaky now
    (notice,) = eventually(lambda: _flaky_notices(receiver), timeout=30, what="the notice")
    report(third, {"t.a": False, "t.b": False})  # t.a still flaky; t.b becomes flaky
    eventually(lambda: len(_flaky_notices(receiver)) == 2, timeout=30, what="t.b's notice")
    notices = _flaky_notices(receiver)
    assert [n["test"]["name"] for n in notices] == ["t.a", "t.b"]
    assert notice["run"]["id"] == second and notice["run"]["pipeline_name"] == "notify"
    assert (notice["test"]["runs"], notice["test"]["failed_runs"]) == (2, 1)
    assert notice["stage"] == {"name": "unit", "attempt": 1}
    assert notice["run"]["url"] == f"http://sluice.test/runs/{second}"
    fourth, fifth = runs.created(), runs.created()
    report(fourth, {"t.a": False, "t.b": True, "t.c": False})
    report(fifth, {"t.a": True, "t.b": False, "t.c": True})  # only t.c is new to flakiness
    eventually(lambda: len(_flaky_notices(receiver)) == 3, timeout=30, what="t.c's notice")
    assert [n["test"]["name"] for n in _flaky_notices(receiver)] == ["t.a", "t.b", "t.c"]
    queued = db.execute("SELECT count(*) FROM notification_deliveries").fetchone()
    assert queued == (3,)


def test_a_flaky_test_of_a_pipeline_is_announced_on_every_channel_that_asks(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
    report: Report,
) -> None:
    smtp = SmtpReceiver()
    smtp.start()
    try:
        subscribe(
            db, pipeline_id=PIPELINE, channel="slack", target=receiver.url, events=["test.flaky"]
        )
        subscribe(
            db, pipeline_id=PIPELINE, channel="email", target="qa@test", events=["test.flaky"]
        )
        subscribe(
            db, pipeline_id=PIPELINE, channel="email", target="no@test", events=["run.failed"]
        )
        start_notifier(smtp_port=smtp.port)
        first, second = runs.created(), runs.created()
        report(first, {"t.sometimes": False})
        report(second, {"t.sometimes": True})
        (mail,) = eventually(lambda: smtp.messages, timeout=30, what="the e-mail")
        (slack,) = eventually(lambda: receiver.requests, timeout=30, what="the Slack message")
    finally:
        smtp.stop()
    assert mail["To"] == "qa@test"
    assert mail["Subject"] == "[sluice] test flaky: t.sometimes in stage unit of notify on main"
    text = json.loads(slack.body)["text"]
    assert text.startswith("test flaky: t.sometimes in stage unit of notify on main")


def test_a_test_flaky_before_the_subscription_existed_is_not_announced(
    db: psycopg.Connection[Any],
    runs: RunsWriter,
    start_notifier: Callable[..., Running],
    receiver: HttpReceiver,
    report: Report,
) -> None:
    first, second = runs.created(), runs.created()
    report(first, {"t.old": False})
    report(second, {"t.old": True})
    subscribe(
        db, pipeline_id=PIPELINE, channel="webhook", target=receiver.url, events=["test.flaky"]
    )
    start_notifier()
    third = runs.created()
    report(third, {"t.old": False, "t.new": False})
    fourth = runs.created()
    report(fourth, {"t.new": True})
    (notice,) = eventually(lambda: _flaky_notices(receiver), timeout=30, what="t.new's notice")
    assert notice["test"]["name"] == "t.new"
    # t.new's onset was queued in the same pass that saw t.old's: t.old was never queued
    queued = db.execute("SELECT payload->'test'->>'name' FROM notification_deliveries")
    assert queued.fetchall() == [("t.new",)]
