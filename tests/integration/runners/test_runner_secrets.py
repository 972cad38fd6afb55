"""Secrets reach the stage's environment only: masked in logs, absent from Kafka and tables,
every read audited."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain.events import StageSucceeded
from orchestrator.domain.model import StageSpec
from orchestrator.domain.records import AuditEvent, LogChunk
from runners.logs import MASK
from runners.secrets import SecretStore
from tests.integration.runners.conftest import Rig
from tests.support.waiting import eventually

SECRET = "s3cr3t-Value-0123456789"


def test_a_secret_is_masked_in_logs_and_absent_from_every_topic_and_table(
    rig: Rig, pg: psycopg.Connection[Any]
) -> None:
    key = (rig.config.secrets_key or "").encode()
    store = SecretStore(dsn=rig.settings.pg_dsn, key=key, schema=rig.config.pg_schema)
    store.set("pipe-1", "API_TOKEN", SECRET)
    readers = {t: rig.read(t) for t in (rig.topics.inbox, rig.topics.logs, rig.topics.audit)}
    rig.start()
    # printed whole, and printed in two writes so the value straddles a chunk boundary
    script = (
        'echo "token=$API_TOKEN"',
        'printf "%s" "${API_TOKEN%%Value*}"; sleep 1.2',
        'echo "${API_TOKEN#*-}"',
    )
    job = rig.job(StageSpec(name="deploy", script=script, secrets=("API_TOKEN",)))
    rig.send(job)
    inbox, logs, audit = readers.values()
    eventually(lambda: inbox.of(StageSucceeded, run_id=job.run_id), timeout=30, what="success")
    eventually(lambda: logs.of(LogChunk, run_id=job.run_id, final=True), what="the final chunk")
    text = "".join(c.data for c in sorted(logs.of(LogChunk), key=lambda c: c.seq))
    assert f"token={MASK}" in text
    assert text.count(MASK) == 2
    reads = eventually(lambda: audit.of(AuditEvent, action="secret.read"), what="the audit")
    assert [(r.subject, r.outcome) for r in reads] == [("secret/pipe-1/API_TOKEN", "allowed")]
    everything = b"".join(raw for reader in readers.values() for raw in reader.raw)
    assert SECRET.encode() not in everything
    tables = [pg.execute(f"SELECT * FROM {t}").fetchall() for t in ("secrets", "flaky_tests")]
    assert SECRET not in repr(tables)
