"""Searchable logs: the lines of ``sluice.logs`` folded into ``log_lines`` and searched within a
run (``GET /runs/{id}/logs?q=``, ``sluice logs RUN --grep``), across a pipeline's runs
(``GET /pipelines/{id}/logs/search``), and any attempt's log (``?stage=&attempt=``).

The chunks are written to ``sluice.logs`` exactly as a runner writes them (same record, same
key ``run_id/stage/attempt``), cut in the middle of lines as a runner's chunks may be.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from orchestrator.api.publish import append
from orchestrator.cli import main
from orchestrator.domain.events import LogArchived, LogExpired
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from projections.audit_trail import AUDIT_TRAIL
from projections.log_lines import LOG_LINES
from projections.replay import verify
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import PIPELINE, Deployment, Pipeline
from tests.support.event_ids import AttemptIds
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]
FIRST = ["compiling\nERR", "OR: disk full\n", "retrying"]  # the last line never ends
SECOND = ["compiling\n", "all good, disk ok\n", "done"]  # final: "done" is its last line


class _LogIds(AttemptIds):
    storage_path: str


def _write(deployment: Deployment, run_id: str, attempt: int, pieces: list[str]) -> None:
    p = producer(deployment.settings)
    topic = TopicNames(deployment.settings.topic_prefix).logs
    for seq, data in enumerate(pieces):
        chunk = LogChunk(
            run_id=run_id,
            stage="build",
            attempt=attempt,
            seq=seq,
            stream=LogStream.STDOUT,
            data=data,
            final=attempt == 2 and seq == len(pieces) - 1,
            occurred_at_ms=time.time_ns() // 1_000_000,
        )
        append(p, topic, f"{run_id}/build/{attempt}", chunk)


def _get(deployment: Deployment, path: str, **params: Any) -> Any:
    with deployment.client() as http:
        response = http.get(path, params=params)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def run_id(deployment: Deployment, trigger: Trigger) -> str:
    run: str = trigger().json()["run_id"]
    _write(deployment, run, 1, FIRST)
    _write(deployment, run, 2, SECOND)
    return run


def _where(matches: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [(m["attempt"], m["line_no"], m["line"]) for m in matches]


def test_a_run_search_finds_a_line_cut_across_chunks_in_every_attempt(
    deployment: Deployment, run_id: str
) -> None:
    found = eventually(  # the attempts' chunks are on two partitions: wait for both
        lambda: (m := _where(_get(deployment, f"/runs/{run_id}/logs", q="DISK")))[1:] and m,
        what="the lines of both attempts in log_lines",
    )
    assert found == [(1, 2, "ERROR: disk full"), (2, 2, "all good, disk ok")]


def test_each_attempts_log_is_reachable_with_its_unfinished_last_line(
    deployment: Deployment, run_id: str
) -> None:
    def text(attempt: int) -> str | None:
        with deployment.client() as http:
            r = http.get(f"/runs/{run_id}/logs", params={"stage": "build", "attempt": attempt})
        return r.text if r.status_code == 200 else None

    assert eventually(lambda: text(1)) == "".join(FIRST)
    assert eventually(lambda: text(2)) == "".join(SECOND) + "\n"


def test_a_pipeline_search_finds_lines_of_each_run_since_a_time(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, run_id: str
) -> None:
    other: str = trigger(commit_sha=pipeline.sha).json()["run_id"]
    _write(deployment, other, 1, ["ERROR: disk full again\n"])
    path = f"/pipelines/{pipeline.pipeline_id}/logs/search"
    found = eventually(
        lambda: {m["run_id"] for m in _get(deployment, path, q="error: disk")} == {run_id, other},
        what="both runs' matches",
    )
    assert found
    assert _get(deployment, path, q="error: disk", since="2999-01-01T00:00:00Z") == []


def test_a_search_takes_percent_and_underscore_literally(
    deployment: Deployment, run_id: str
) -> None:
    eventually(lambda: _get(deployment, f"/runs/{run_id}/logs", q="disk"))
    assert _get(deployment, f"/runs/{run_id}/logs", q="d_sk") == []
    assert _get(deployment, f"/runs/{run_id}/logs", q="%") == []


def test_sluice_logs_grep_prints_stage_attempt_line_and_text(
    deployment: Deployment, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    eventually(lambda: len(_get(deployment, f"/runs/{run_id}/logs", q="disk")) == 2)
    args = ["logs", run_id, "--grep", "disk", "--url", deployment.url]
    assert main([*args, "--token", deployment.admin_token]) == 0
    out = capsys.readouterr().out
    assert out == "build#1:2: ERROR: disk full\nbuild#2:2: all good, disk ok\n"


def test_the_log_lines_and_audit_trail_rebuilt_from_the_log_equal_the_live_ones(
    deployment: Deployment, run_id: str
) -> None:
    eventually(lambda: len(_get(deployment, f"/runs/{run_id}/logs", q="disk")) == 2)
    reports = {
        p.name: verify(
            deployment.settings,
            projection=p,
            live_schema=deployment.schema,
            prefix=deployment.settings.topic_prefix,
            keep=False,
        )
        for p in (LOG_LINES, AUDIT_TRAIL)
    }
    assert all(r.identical for r in reports.values()), reports
    [lines] = [t for t in reports["log_lines"].tables if t.table == "log_lines"]
    assert lines.live_rows >= 5  # 2 ended lines of attempt 1, 3 of attempt 2


def test_a_nul_in_the_output_is_stored_as_a_replacement_character(
    deployment: Deployment, trigger: Trigger
) -> None:
    run: str = trigger().json()["run_id"]
    _write(deployment, run, 1, ["before\x00after\n"])
    found = eventually(lambda: _get(deployment, f"/runs/{run}/logs", q="after"))
    assert [m["line"] for m in found] == ["before\ufffdafter"]
    with deployment.client() as http:
        assert http.get(f"/runs/{run}/logs", params={"q": "\x00"}).status_code == 422


def test_an_expired_log_answers_410_and_its_lines_leave_the_search(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, run_id: str
) -> None:
    sha = pipeline.repo.commit({"pipeline.yaml": PIPELINE, "n.txt": "kept"})
    kept: str = trigger(commit_sha=sha).json()["run_id"]
    _write(deployment, kept, 1, ["ERROR: disk kept\n"])
    path = f"/pipelines/{pipeline.pipeline_id}/logs/search"
    eventually(lambda: len(_get(deployment, path, q="error: disk")) == 2, what="both runs")
    inbox = TopicNames(deployment.settings.topic_prefix).inbox
    where = f"{deployment.settings.log_bucket}/logs/{run_id}/build/1.log.gz"
    ids: _LogIds = {"run_id": run_id, "stage": "build", "attempt": 1, "storage_path": where}
    now = time.time_ns() // 1_000_000
    p = producer(deployment.settings)
    append(p, inbox, run_id, LogArchived(**ids, size_bytes=1, lines=2, occurred_at_ms=now))
    append(p, inbox, run_id, LogExpired(**ids, occurred_at_ms=now + 1))

    def attempt_status() -> int:
        with deployment.client() as http:
            r = http.get(f"/runs/{run_id}/logs", params={"stage": "build", "attempt": 1})
        return r.status_code

    eventually(lambda: attempt_status() == 410, what="the expired attempt to answer 410")
    assert [m["run_id"] for m in _get(deployment, path, q="error: disk")] == [kept]
    assert _get(deployment, f"/runs/{run_id}/logs", q="disk") == [
        {
            "run_id": run_id,
            "stage": "build",
            "attempt": 2,
            "line_no": 2,
            "line": "all good, disk ok",
        }
    ]
