"""The API's audit trail on ``sluice.audit``: denials and admin actions, never secrets."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from orchestrator.domain.records import AuditEvent
from orchestrator.wire import decode_record
from schemas.eventlog import TopicNames, consumer
from schemas.topics import AUDIT
from tests.integration.api.conftest import Deployment, Pipeline
from tests.support.waiting import eventually


@pytest.fixture
def audit_log(deployment: Deployment) -> Iterator[Consumer]:
    """A reader of the deployment's audit topic from its current end."""
    topic = TopicNames(deployment.settings.topic_prefix).audit
    c = consumer(deployment.settings, group="api-tests-audit")
    ends = [
        c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
        for p in range(AUDIT.partitions)
    ]
    c.assign([TopicPartition(topic, p, ends[p]) for p in range(AUDIT.partitions)])
    yield c
    c.close()


def _read(c: Consumer, seen: list[AuditEvent]) -> list[AuditEvent]:
    for msg in c.consume(100, timeout=0.2):
        if msg.error() is None:
            seen.append(decode_record(msg.value() or b""))
    return seen


def test_a_request_with_an_unknown_token_is_audited_as_denied_without_the_token(
    deployment: Deployment, audit_log: Consumer
) -> None:
    secret = "sl_bad_not-a-real-token"
    httpx.get(f"{deployment.url}/pipelines", headers={"Authorization": f"Bearer {secret}"})
    seen: list[AuditEvent] = []
    [event] = eventually(lambda: _read(audit_log, seen), timeout=10)
    assert (event.outcome, event.action) == ("denied", "GET /pipelines")
    assert secret not in repr(event)


def test_setting_a_secret_is_audited_by_name_never_by_value(
    deployment: Deployment, pipeline: Pipeline, audit_log: Consumer
) -> None:
    with deployment.client() as http:
        http.put(
            f"/pipelines/{pipeline.pipeline_id}/secrets/DB_PASSWORD", json={"value": "hunter22"}
        )
    seen: list[AuditEvent] = []
    eventually(lambda: [e for e in _read(audit_log, seen) if e.action == "secret.set"])
    [event] = [e for e in seen if e.action == "secret.set"]
    assert (event.pipeline_id, event.detail) == (pipeline.pipeline_id, {"name": "DB_PASSWORD"})
    assert "hunter22" not in repr(seen)
