"""The trigger processor's answers: a created run with its snapshot and priority, or why not."""

from __future__ import annotations

import pytest

from orchestrator.domain.errors import PipelineInvalid
from orchestrator.domain.records import PipelineRegistered, RunRequested
from orchestrator.domain.spec import parse_pipeline
from orchestrator.domain.statuses import Priority, TriggerSource
from projections.trigger_rules import (
    deduplicated,
    describe_invalid,
    run_created,
    unknown_pipeline,
)

PIPELINE_FILE = """
name: backend-api-ci
stages:
  build:
    script: ["make build"]
  integration:
    needs: [build]
    matrix: {python: ["3.10", "3.11"]}
    script: ["make it PY=$python"]
"""


def pipeline(priority: Priority | None = None) -> PipelineRegistered:
    return PipelineRegistered(
        pipeline_id="backend",
        name="Backend",
        repo_url="file:///srv/backend.git",
        config_path="pipeline.yaml",
        default_branch="main",
        priority=priority,
        occurred_at_ms=1,
    )


def request(branch: str = "main", source: TriggerSource = TriggerSource.API) -> RunRequested:
    return RunRequested(
        request_id="req-1",
        run_id="run-1",
        pipeline_id="backend",
        branch=branch,
        commit_sha="c" * 40,
        source=source,
        variables={"DEPLOY": "no"},
        requested_by="ada",
        occurred_at_ms=42,
    )


def test_a_created_run_carries_the_expanded_stage_snapshot() -> None:
    created = run_created(request(), pipeline(), parse_pipeline(PIPELINE_FILE), "k")
    assert [s.name for s in created.stages] == [
        "build",
        "integration [python=3.10]",
        "integration [python=3.11]",
    ]


def test_a_created_run_keeps_the_request_ids_time_and_variables() -> None:
    created = run_created(request(), pipeline(), parse_pipeline(PIPELINE_FILE), "k")
    assert (created.run_id, created.occurred_at_ms, created.variables, created.dedup_key) == (
        "run-1",
        42,
        {"DEPLOY": "no"},
        "k",
    )


@pytest.mark.parametrize(
    ("branch", "source", "expected"),
    [
        ("main", TriggerSource.WEBHOOK, Priority.HIGH),
        ("release/2.0", TriggerSource.WEBHOOK, Priority.CRITICAL),
        ("main", TriggerSource.CRON, Priority.LOW),
        ("feature/x", TriggerSource.WEBHOOK, Priority.NORMAL),
    ],
)
def test_the_priority_follows_the_trigger(
    branch: str, source: TriggerSource, expected: Priority
) -> None:
    spec = parse_pipeline(PIPELINE_FILE)
    assert run_created(request(branch, source), pipeline(), spec, "k").priority is expected


def test_the_registered_priority_overrides_the_trigger() -> None:
    spec = parse_pipeline(PIPELINE_FILE)
    created = run_created(request("feature/x"), pipeline(Priority.LOW), spec, "k")
    assert created.priority is Priority.LOW


def test_an_unknown_pipeline_is_rejected_with_what_to_do() -> None:
    assert "register it first" in unknown_pipeline(request()).reason


def test_a_duplicate_names_the_existing_run_and_its_own_request() -> None:
    answer = deduplicated(request(), "run-0", "k")
    assert (answer.run_id, answer.request_id, answer.dedup_key) == ("run-0", "req-1", "k")


def test_an_invalid_file_is_described_with_every_error_and_its_line() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline("name: x\nstages:\n  a:\n    needs: [b]\n    script: [x]\n")
    reason = describe_invalid(caught.value, "ci.yaml", "d" * 40)
    assert "ci.yaml:4: stage 'a' needs 'b', which is not a stage" in reason
