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

__all__ = [
    "EVENT_KINDS",
    "SCHEMA_VERSION",
    "RunInfo",
    "build_payload",
    "delivery_id",
    "kind_of",
]

SCHEMA_VERSION = "sluice.notification/v1"

# record name on sluice.runs -> the event name subscribers choose from
EVENT_KINDS: Mapping[str, str] = {
    "RunSucceeded": "run.succeeded",
    "RunFailed": "run.failed",
    "StageFailed": "stage.failed",
    "DeploymentSucceeded": "deployment.succeeded",
    "DeploymentFailed": "deployment.failed",
    "DeploymentRolledBack": "deployment.rolled_back",
}

_RUN_STATUS = {"run.succeeded": "succeeded", "run.failed": "failed"}


@dataclass(frozen=True)
class RunInfo:
    """What a notification tells about its run (remembered from the run's ``RunCreated``)."""

    run_id: str
    pipeline_id: str
    pipeline_name: str
    branch: str
    commit_sha: str


def kind_of(record_name: str) -> str | None:
    """The notification event a ``sluice.runs`` record raises, or None if it raises none."""
    return EVENT_KINDS.get(record_name)


def delivery_id(subscription_id: str, topic: str, partition: int, offset: int) -> str:
    """The idempotency key of one event for one subscription (the same on every re-read)."""
    raw = f"{subscription_id}|{topic}|{partition}|{offset}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


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
        "stage": _stage(value) if kind == "stage.failed" else None,
        "deployment": _deployment(value) if kind.startswith("deployment.") else None,
        "reason": value.get("reason"),
    }


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
