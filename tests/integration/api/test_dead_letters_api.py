"""Dead letters through the API and ``sluice dlq``: list with filters, inspect, redrive,
discard, per-pipeline access, scopes and the audit trail (real services; a stand-in
runner fails the build as infrastructure until the test "fixes" it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from orchestrator.cli import main
from orchestrator.domain.records import AuditEvent
from orchestrator.wire import decode_record
from schemas.eventlog import TopicNames, consumer
from schemas.topics import AUDIT
from tests.integration.api.conftest import Deployment, Pipeline, register
from tests.support.dead_letters import (
    BROKEN_BUILD,
    OwnRunsOnly,
    dead_lettered_run,
    standin_for,
)
from tests.support.waiting import eventually

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def standin(deployment: Deployment) -> Iterator[OwnRunsOnly]:
    with standin_for(deployment) as runner:
        yield runner


@pytest.fixture
def broken(deployment: Deployment, tmp_path: Path) -> Pipeline:
    return register(deployment, tmp_path, BROKEN_BUILD)


@pytest.fixture
def cli(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Cli:
    monkeypatch.setenv("SLUICE_API_URL", deployment.url)
    monkeypatch.setenv("SLUICE_API_TOKEN", deployment.admin_token)
    monkeypatch.setenv("HOME", str(deployment.tmp))

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def audited(deployment: Deployment) -> Consumer:
    topic = TopicNames(deployment.settings.topic_prefix).audit
    c = consumer(deployment.settings, group="dlq-tests-audit")
    ends = [
        c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
        for p in range(AUDIT.partitions)
    ]
    c.assign([TopicPartition(topic, p, ends[p]) for p in range(AUDIT.partitions)])
    return c


def test_a_dead_letter_is_listed_filtered_inspected_redriven_and_audited(
    deployment: Deployment, standin: OwnRunsOnly, broken: Pipeline
) -> None:
    fixed = threading.Event()
    run_id, letter = dead_lettered_run(deployment, standin, broken, fixed)
    letter_id = letter["dead_letter_id"]
    assert (letter["stage"], letter["attempt"], letter["status"]) == ("build", 3, "dead")
    with deployment.client() as http:
        pid = broken.pipeline_id
        assert [
            r["dead_letter_id"]
            for r in http.get(
                "/dead-letters", params={"pipeline": pid, "reason": "infrastructure"}
            ).json()
        ] == [letter_id]
        assert http.get("/dead-letters", params={"pipeline": pid, "reason": "disk"}).json() == []
        assert http.get("/dead-letters", params={"pipeline": pid, "older_than": "1h"}).json() == []
        assert http.get("/dead-letters", params={"older_than": "soon"}).status_code == 400
        shown = http.get(f"/dead-letters/{letter_id}").json()
        assert [a["attempt"] for a in shown["attempts"]] == [1, 2, 3]
        assert all("infrastructure" in a["reason"] for a in shown["attempts"])
        assert shown["attempts"][0]["log_url"] == f"/runs/{run_id}/logs?stage=build"

        log = audited(deployment)
        fixed.set()
        assert http.post(f"/dead-letters/{letter_id}/redrive").status_code == 202
        eventually(
            lambda: http.get(f"/runs/{run_id}").json()["status"] == "success",
            timeout=60,
            what="the redriven run to succeed",
        )
        after = eventually(
            lambda: (
                (r := http.get(f"/dead-letters/{letter_id}").json())["status"] == "redriven" and r
            ),
            what="the dead letter to be redriven",
        )
        assert after["resolved_by"] == "token:admin"
        assert http.post(f"/dead-letters/{letter_id}/redrive").status_code == 409
    seen: list[AuditEvent] = []

    def redrive_audited() -> list[AuditEvent]:
        for msg in log.consume(100, timeout=0.2):
            if msg.error() is None:
                seen.append(decode_record(msg.value() or b""))
        return [e for e in seen if e.action == "dead_letter.redrive"]

    [event] = eventually(redrive_audited, timeout=10)
    log.close()
    assert (event.pipeline_id, event.detail["dead_letter_id"]) == (pid, letter_id)


def test_dead_letters_of_other_pipelines_are_hidden_and_changes_need_the_trigger_scope(
    deployment: Deployment, standin: OwnRunsOnly, broken: Pipeline, tmp_path: Path
) -> None:
    _, letter = dead_lettered_run(deployment, standin, broken, threading.Event())
    letter_id = letter["dead_letter_id"]
    other = register(deployment, tmp_path / "other")
    elsewhere = deployment.token("read", "trigger", pipelines=(other.pipeline_id,))
    reader = deployment.token("read", pipelines=(broken.pipeline_id,))
    with deployment.client(elsewhere) as http:
        assert http.get(f"/dead-letters/{letter_id}").status_code == 404
        assert all(r["pipeline_id"] == other.pipeline_id for r in http.get("/dead-letters").json())
        assert http.post(f"/dead-letters/{letter_id}/redrive").status_code == 404
        assert http.post("/dead-letters/redrive", json={}).json()["dead_letter_ids"] == []
    with deployment.client(reader) as http:
        assert http.get(f"/dead-letters/{letter_id}").status_code == 200
        assert http.post(f"/dead-letters/{letter_id}/redrive").status_code == 403


def test_sluice_dlq_lists_shows_discards_and_redrives_by_filter(
    deployment: Deployment, standin: OwnRunsOnly, broken: Pipeline, cli: Cli, tmp_path: Path
) -> None:
    fixed = threading.Event()
    second_pipeline = register(deployment, tmp_path / "second", BROKEN_BUILD)
    first_run, first = dead_lettered_run(deployment, standin, broken, fixed)
    second_run, second = dead_lettered_run(deployment, standin, second_pipeline, fixed)

    status, out, _ = cli("dlq", "list", "--pipeline", broken.pipeline_id, "--json")
    assert status == 0
    assert [r["run_id"] for r in json.loads(out)] == [first_run]
    status, out, _ = cli("dlq", "show", first["dead_letter_id"])
    assert status == 0 and "attempt 3" in out and first_run in out
    status, out, _ = cli("dlq", "discard", first["dead_letter_id"], "--reason", "old branch")
    assert status == 0 and "discard requested" in out

    def statuses() -> dict[str, str]:
        _, listed, _ = cli("dlq", "list", "--status", "all", "--json")
        return {r["run_id"]: r["status"] for r in json.loads(listed)}

    eventually(lambda: statuses()[first_run] == "discarded", what="the discard")
    fixed.set()
    pid = second_pipeline.pipeline_id
    status, out, _ = cli("dlq", "redrive", "--all", "--pipeline", pid, "--json")
    assert status == 0 and json.loads(out)["dead_letter_ids"] == [second["dead_letter_id"]]
    eventually(lambda: statuses()[second_run] == "redriven", what="the redrive")
    assert statuses()[first_run] == "discarded"
    status, _, err = cli("dlq", "redrive")
    assert status == 1 and "--all" in err
    with deployment.client() as http:
        assert http.get(f"/runs/{first_run}").json()["status"] == "failed"
        eventually(lambda: http.get(f"/runs/{second_run}").json()["status"] == "success")
