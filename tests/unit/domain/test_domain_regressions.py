"""Counterexamples the property tests once found, kept as plain tests."""

from __future__ import annotations

from orchestrator.domain import RunStatus
from tests.unit.domain.domain_helpers import Driver, kinds, spec


def test_retrying_an_allowed_failure_does_not_recall_a_dependent_already_running() -> None:
    run = Driver([spec("lint", allow_failure=True), spec("report", "lint")])
    run.crash("lint")
    run.claim("report")
    run.retry("lint")
    assert run.statuses() == {"lint": "queued", "report": "running"}
    assert kinds(run.expire("report")) == ["StageLeaseExpired", "StageQueued"]
    run.run_stage("report")
    run.run_stage("lint")
    assert run.run.status is RunStatus.SUCCESS
