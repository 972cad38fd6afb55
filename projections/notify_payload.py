"""What a notification says: which run events notify, and the versioned JSON payload (pure).

Every channel (webhook, Slack, e-mail) renders the same payload, whose shape is a stable,
versioned contract (``"schema": "sluice.notification/v1"``); fields are only ever added.
Example::

    {"schema": "sluice.notification/v1", "id": "3f1c…", "event": "run.failed",
     "occurred_at": "2026-11-26T08:00:00.000Z", "occurred_at_ms": 1795680000000,
     "run": {"id": "…", "pipeline_id": "…", "pipeline_name": "…", "branch": "main",
             "commit_sha": "…", "status": "failed", "url": "http://…/runs/…"},
     "stage": null, "deployment": null, "reason": "stages failed: test"}

``id`` is the idempotency key: the same for every attempt (and any re-send after a crash)
of one delivery, so a receiver that keeps the ids it has seen handles each event once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.domain.leases import start_timeout_reason

__all__ = [
    "EVENT_KINDS",
    "SCHEMA_VERSION",
    "SUBSCRIBABLE",
    "TEST_FLAKY",
    "FlakyOnset",
    "RunInfo",
    "build_payload",
    "delivery_id",
    "flaky_delivery_id",
    "flaky_payload",
    "kind_of",
    "run_url",
]

SCHEMA_VERSION = "sluice.notification/v1"

# record name on sluice.runs -> the event name subscribers choose from
EVENT_KINDS: Mapping[str, str] = {
    "RunSucceeded": "run.succeeded",
    "RunFailed": "run.failed",
    "StageFailed": "stage.failed",
    "StageStartTimedOut": "stage.start_timed_out",
    "DeploymentSucceeded": "deployment.succeeded",
    "DeploymentFailed": "deployment.failed",
    "DeploymentRolledBack": "deployment.rolled_back",
}

# not a record of sluice.runs: raised once per test, the first time the test_outcomes
# projection judges it flaky (test_flakiness.flaky_since)
TEST_FLAKY = "test.flaky"
SUBSCRIBABLE: tuple[str, ...] = (*EVENT_KINDS.values(), TEST_FLAKY)

_RUN_STATUS = {"run.succeeded": "succeeded", "run.failed": "failed"}


@dataclass(frozen=True)
class RunInfo:
    """What a notification tells about its run (remembered from the run's ``RunCreated``)."""

    run_id: str
    pipeline_id: str
    pipeline_name: str
    branch: str
    commit_sha: str


@dataclass(frozen=True)
class FlakyOnset:
    """The report that first made a test flaky, with the figures of that moment."""

    pipeline_id: str
    test_name: str
    run_id: str
    stage: str
    attempt: int
    since_ms: int
    runs: int
    failed_runs: int


def run_url(public_url: str, run_id: str) -> str:
    """The address of a run's page."""
    return f"{public_url.rstrip('/')}/runs/{run_id}"


def kind_of(record_name: str) -> str | None:
    """The notification event a ``sluice.runs`` record raises, or None if it raises none."""
    return EVENT_KINDS.get(record_name)


def delivery_id(subscription_id: str, topic: str, partition: int, offset: int) -> str:
    """The idempotency key of one event for one subscription (the same on every re-read)."""
    raw = f"{subscription_id}|{topic}|{partition}|{offset}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def flaky_delivery_id(subscription_id: str, pipeline_id: str, test_name: str) -> str:
    """The idempotency key of a test's "became flaky" notice for one subscription: one per
    test, ever (the outbox's primary key, so it is queued once)."""
    raw = f"{subscription_id}|{TEST_FLAKY}|{pipeline_id}|{test_name}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def flaky_payload(
    onset: FlakyOnset, run: RunInfo, *, delivery: str, run_url: str
) -> dict[str, Any]:
    """The v1 payload saying that a test became flaky (``event`` ``test.flaky``)."""
    value = {"occurred_at_ms": onset.since_ms, "reason": _flaky_reason(onset)}
    payload = build_payload(TEST_FLAKY, value, run, delivery=delivery, run_url=run_url)
    payload["stage"] = {"name": onset.stage, "attempt": onset.attempt}
    payload["test"] = {
        "name": onset.test_name,
        "runs": onset.runs,
        "failed_runs": onset.failed_runs,
        "failure_rate": round(onset.failed_runs / onset.runs, 4) if onset.runs else 0.0,
    }
    return payload


def _flaky_reason(onset: FlakyOnset) -> str:
    share = 100 * onset.failed_runs / onset.runs if onset.runs else 0.0
    return (
        f"test {onset.test_name} became flaky: it failed in {onset.failed_runs} of its last"
        f" {onset.runs} runs ({share:.0f} %), or failed and passed on one commit"
    )


def build_payload(
    kind: str, value: Mapping[str, Any], run: RunInfo, *, delivery: str, run_url: str
) -> dict[str, Any]:
    """The v1 payload of event ``kind`` whose record is ``value``."""
    occurred_ms = int(value["occurred_at_ms"])
    return {
        "schema": SCHEMA_VERSION,
        "id": delivery,
        "event": kind,
        "occurred_at": _iso(occurred_ms),
        "occurred_at_ms": occurred_ms,
        "run": {
            "id": run.run_id,
            "pipeline_id": run.pipeline_id,
            "pipeline_name": run.pipeline_name,
            "branch": run.branch,
            "commit_sha": run.commit_sha,
            "status": _RUN_STATUS.get(kind),
            "url": run_url,
        },
        "stage": _stage(value) if kind.startswith("stage.") else None,
        "deployment": _deployment(value) if kind.startswith("deployment.") else None,
        "reason": _reason(kind, value),
    }


def _reason(kind: str, value: Mapping[str, Any]) -> str | None:
    if kind == "stage.start_timed_out":  # the record has no reason: say what happened
        return start_timeout_reason(int(value["attempt"]), int(value["timeout_ms"]))
    reason = value.get("reason")
    return None if reason is None else str(reason)


def _stage(value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": value["stage"],
        "attempt": value["attempt"],
        "exit_code": value.get("exit_code"),
        "failure_class": value.get("failure_class"),
    }


def _deployment(value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": value["deployment_id"],
        "environment": value["environment"],
        "stage": value["stage"],
    }


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
