"""The notification payload, its signature and how each channel renders it (pure)."""

from __future__ import annotations

import json
from typing import Any

from projections.notifier import Event, plan, run_url
from projections.notify_email import SmtpSettings, email_message
from projections.notify_payload import (
    SCHEMA_VERSION,
    FlakyOnset,
    RunInfo,
    build_payload,
    delivery_id,
    flaky_delivery_id,
    flaky_payload,
)
from projections.notify_sender import backoff_s
from projections.notify_slack import slack_message
from projections.notify_store import display_target
from projections.notify_webhook import SIGNATURE_HEADER, sign, verify, webhook_request

RUN = RunInfo("r1", "p1", "backend-api", "main", "a" * 40)
FAILED = {"run_id": "r1", "occurred_at_ms": 1_700_000_000_123, "reason": "stages failed: test"}


def failed_payload() -> dict[str, Any]:
    url = run_url("http://sluice.example/", "r1")
    return build_payload("run.failed", FAILED, RUN, delivery="d1", run_url=url)


def test_a_run_failed_payload_has_the_versioned_schema_and_the_run_status() -> None:
    payload = failed_payload()
    assert payload["schema"] == SCHEMA_VERSION
    assert payload["id"] == "d1"
    assert payload["occurred_at"] == "2023-11-14T22:13:20.123Z"
    assert payload["run"]["status"] == "failed"
    assert payload["run"]["url"] == "http://sluice.example/runs/r1"
    assert (payload["stage"], payload["deployment"]) == (None, None)


def test_a_stage_failed_payload_names_the_stage_attempt_and_failure_class() -> None:
    value = {**FAILED, "stage": "test", "attempt": 2, "exit_code": 1, "failure_class": "flaky"}
    payload = build_payload("stage.failed", value, RUN, delivery="d", run_url="u")
    assert payload["stage"] == {
        "name": "test",
        "attempt": 2,
        "exit_code": 1,
        "failure_class": "flaky",
    }


def test_a_start_timeout_notifies_with_the_stage_and_why_no_runner_took_it() -> None:
    value = {
        "run_id": "r1",
        "stage": "build",
        "attempt": 1,
        "queued_at_ms": 1_700_000_000_000,
        "timeout_ms": 3_600_000,
        "occurred_at_ms": 1_700_003_600_000,
    }
    payload = build_payload("stage.start_timed_out", value, RUN, delivery="d", run_url="u")
    assert payload["stage"]["name"] == "build"
    assert payload["reason"] == "no runner took attempt 1 within 60 min (schedule-to-start)"
    assert "start timed out" in slack_message(payload)["text"]


def test_the_idempotency_key_is_the_same_for_the_same_event_and_subscription() -> None:
    assert delivery_id("s1", "sluice.runs", 0, 7) == delivery_id("s1", "sluice.runs", 0, 7)
    assert delivery_id("s1", "sluice.runs", 0, 7) != delivery_id("s2", "sluice.runs", 0, 7)
    assert delivery_id("s1", "sluice.runs", 0, 7) != delivery_id("s1", "sluice.runs", 0, 8)


def test_a_receiver_verifies_the_signature_over_the_exact_body() -> None:
    body, headers = webhook_request(failed_payload(), "s3cret")
    assert verify("s3cret", body, headers[SIGNATURE_HEADER])
    assert headers["X-Sluice-Delivery"] == headers["Idempotency-Key"] == "d1"
    assert json.loads(body)["event"] == "run.failed"


def test_a_signature_fails_with_another_secret_or_a_changed_body() -> None:
    body, headers = webhook_request(failed_payload(), "s3cret")
    assert not verify("other", body, headers[SIGNATURE_HEADER])
    assert not verify("s3cret", body + b" ", headers[SIGNATURE_HEADER])
    assert sign("s3cret", body).startswith("sha256=")


def test_a_slack_message_has_fallback_text_and_a_mrkdwn_section_linking_the_run() -> None:
    message = slack_message(failed_payload())
    assert "http://sluice.example/runs/r1" in message["text"]
    (block,) = message["blocks"]
    assert block["type"] == "section"
    assert block["text"]["type"] == "mrkdwn"
    assert "<http://sluice.example/runs/r1|run r1>" in block["text"]["text"]


def test_an_email_subject_says_the_event_and_the_body_the_status_and_link() -> None:
    msg = email_message(failed_payload(), sender="sluice@x", to="dev@x")
    assert msg["Subject"] == "[sluice] run failed: backend-api on main"
    body = msg.get_content()
    assert "status:   failed" in body
    assert "http://sluice.example/runs/r1" in body


def test_back_off_doubles_from_the_base_up_to_the_cap() -> None:
    waits = [backoff_s(n, base_s=1.0, cap_s=10.0) for n in range(1, 7)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_plan_queues_only_subscribed_events_raised_after_the_subscription() -> None:
    events = [
        Event("RunFailed", FAILED, "sluice.runs", 0, 5),
        Event("RunSucceeded", {"run_id": "r1", "occurred_at_ms": 2}, "sluice.runs", 0, 6),
        Event("StageQueued", {"run_id": "r1", "occurred_at_ms": 3}, "sluice.runs", 0, 7),
    ]
    subs = {
        "p1": [
            ("new", ("run.failed", "run.succeeded"), 10),
            ("other", ("stage.failed",), 0),
        ]
    }
    rows = plan(events, {"r1": RUN}, subs, "http://x")
    assert [(sub, kind) for _, sub, _, kind, _ in rows] == [("new", "run.failed")]


def test_plan_ignores_runs_it_never_saw_created() -> None:
    events = [Event("RunFailed", {**FAILED, "run_id": "unknown"}, "sluice.runs", 0, 1)]
    assert plan(events, {"r1": RUN}, {"p1": [("s", ("run.failed",), 0)]}, "http://x") == []


def test_a_rolled_back_deployment_names_the_environment_and_reason() -> None:
    value = {
        "run_id": "r1",
        "stage": "deploy",
        "attempt": 1,
        "deployment_id": "dep-1",
        "environment": "staging",
        "reason": "health check failed",
        "occurred_at_ms": 5,
    }
    payload = build_payload("deployment.rolled_back", value, RUN, delivery="d", run_url="u")
    assert payload["deployment"] == {"id": "dep-1", "environment": "staging", "stage": "deploy"}
    assert payload["reason"] == "health check failed"
    assert slack_message(payload)["text"].startswith("deployment rolled back: staging from")


def test_a_slack_webhook_url_is_a_credential_so_only_its_host_is_shown() -> None:
    shown = display_target("slack", "https://hooks.slack.com/services/T000/B000/XXXXSECRET")
    assert shown == "https://hooks.slack.com/…"
    hook = display_target("webhook", "https://user:pw@ci.example:8443/hook?token=abc")
    assert hook == "https://ci.example:8443/hook"
    assert display_target("email", "dev@example.com") == "dev@example.com"


def test_smtp_settings_come_from_the_environment_and_never_show_the_password() -> None:
    env = {
        "SLUICE_SMTP_HOST": "mail.example",
        "SLUICE_SMTP_PORT": "587",
        "SLUICE_SMTP_USER": "sluice",
        "SLUICE_SMTP_PASSWORD": "hunter2",
        "SLUICE_SMTP_STARTTLS": "true",
    }
    smtp = SmtpSettings.from_env(env)
    assert (smtp.host, smtp.port, smtp.username, smtp.starttls) == (
        "mail.example",
        587,
        "sluice",
        True,
    )
    assert smtp.password == "hunter2"
    assert "hunter2" not in repr(smtp)


def test_a_flaky_notice_names_the_test_its_rate_and_the_run_that_made_it_flaky() -> None:
    onset = FlakyOnset("p1", "t.a", "r1", "unit", 2, 1_700_000_000_000, 4, 1)
    payload = flaky_payload(onset, RUN, delivery="d9", run_url="http://s/runs/r1")
    assert payload["event"] == "test.flaky"
    assert payload["test"] == {"name": "t.a", "runs": 4, "failed_runs": 1, "failure_rate": 0.25}
    assert payload["stage"] == {"name": "unit", "attempt": 2}
    assert "failed in 1 of its last 4 runs (25 %)" in payload["reason"]
    assert slack_message(payload)["text"].startswith("test flaky: t.a in stage unit of")


def test_a_flaky_notice_key_is_one_per_subscription_and_test() -> None:
    key = flaky_delivery_id("s1", "p1", "t.a")
    assert key == flaky_delivery_id("s1", "p1", "t.a")
    assert (
        len({key, flaky_delivery_id("s2", "p1", "t.a"), flaky_delivery_id("s1", "p1", "t.b")}) == 3
    )
