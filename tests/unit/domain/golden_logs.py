"""Recorded runs for the golden-log test: ``python -m tests.unit.domain.golden_logs`` rewrites them.

Each file holds the inbox messages of one run, as Avro-shaped records, and what replaying
them through ``decide`` must give: every accepted event's type, the jobs and dead letters,
the reasons messages were ignored, and the final run state. Regenerate only on purpose —
a diff in these files is a change in behaviour that a reviewer has to read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.domain import (
    Decision,
    FailureClass,
    LogArchived,
    RunEvent,
    RunState,
    decide,
    parse_pipeline,
)
from orchestrator.wire import from_record, to_record
from tests.unit.domain.domain_helpers import Driver, spec

GOLDEN = Path(__file__).with_name("golden")

DESIGN_PIPELINE = """\
name: backend-api-ci
stages:
  build:
    script: ["make build"]
    artifacts: {paths: [dist/], expire_in: 30d}
  unit-tests:
    needs: [build]
    script: ["make test"]
    retry: {max: 2, when: [infrastructure, flaky]}
    reports: {junit: report.xml}
  lint:
    needs: [build]
    script: ["make lint"]
  integration:
    needs: [unit-tests, lint]
    matrix: {python: ["3.10", "3.11"]}
    script: ["make it PY=$python"]
  deploy-staging:
    needs: [integration]
    when: {branch: main}
    deploy:
      environment: staging
      image: 127.0.0.1:5000/backend-api:1.0
      strategy: rolling
      health_check: {path: /healthz}
    secrets: [STAGING_TOKEN]
"""


def design_run() -> Driver:
    """The design's example on main: a flaky unit test, duplicates, a late report, success."""
    snapshot = parse_pipeline(DESIGN_PIPELINE).stages
    run = Driver(snapshot)
    run.run_stage("build")
    run.claim("build")
    run.crash("unit-tests", FailureClass.FLAKY)
    run.run_stage("lint")
    run.retry_due("unit-tests")
    run.claim("unit-tests")
    run.claim("unit-tests", runner="w2")
    run.succeed("unit-tests")
    run.run_stage("integration [python=3.11]")
    run.run_stage("integration [python=3.10]")
    run.send(
        LogArchived(
            run_id="run-1",
            occurred_at_ms=run.tick(),
            stage="unit-tests",
            attempt=1,
            storage_path="logs/run-1/unit-tests/1.log",
            size_bytes=2048,
            lines=40,
        )
    )
    run.claim("deploy-staging")
    run.succeed("deploy-staging")  # refused: no deployment yet (invariant 8)
    run.deployed("deploy-staging")
    run.succeed("deploy-staging")
    run.succeed("lint", attempt=1)
    return run


def failing_run() -> Driver:
    """A deterministic failure skips dependents and fails the run; a person retries it."""
    run = Driver([spec("build"), spec("test", "build"), spec("docs"), spec("ship", "test", "docs")])
    run.run_stage("build")
    run.claim("docs")
    run.crash("test")
    run.succeed("docs")
    run.retry("test")
    run.run_stage("test")
    run.run_stage("ship")
    return run


def dead_letter_run() -> Driver:
    """Leases expire and runners crash until the third infrastructure failure dead-letters."""
    run = Driver([spec("compile"), spec("lint", allow_failure=True), spec("pack", "compile")])
    run.expire("compile")
    run.claim("compile")
    run.crash("lint")
    run.expire("compile")
    run.claim("compile")
    run.fail("compile", FailureClass.INFRASTRUCTURE)
    run.succeed("compile", attempt=2)
    return run


def cancelled_run() -> Driver:
    """A branch rule skips, a manual stage waits, a person cancels; a retry reopens the run."""
    stages = [
        spec("build"),
        spec("e2e", "build"),
        spec("deploy", "build", branches=["main"]),
        spec("approve", manual=True),
    ]
    run = Driver(stages, branch="feature/login")
    run.run_stage("build")
    run.claim("e2e")
    run.cancel()
    run.runner_cancel("e2e")
    run.play("approve")
    run.retry("e2e")
    run.run_stage("e2e")
    run.retry("approve")
    run.run_stage("approve")
    return run


SCENARIOS: dict[str, Callable[[], Driver]] = {
    "design_example_with_flaky_retry": design_run,
    "failed_then_retried_by_a_person": failing_run,
    "dead_lettered_after_three_infrastructure_failures": dead_letter_run,
    "cancelled_then_reopened": cancelled_run,
}


def replay(messages: list[RunEvent]) -> dict[str, Any]:
    """What ``decide`` makes of the messages, in a form that diffs well."""
    state: RunState | None = None
    events: list[str] = []
    jobs: list[str] = []
    dead: list[str] = []
    ignored: list[list[Any]] = []
    for index, message in enumerate(messages):
        decision: Decision = decide(state, message)
        if decision.ignored_reason is not None:
            ignored.append([index, decision.ignored_reason])
        events.extend(type(e).__name__ for e in decision.events)
        jobs.extend(job.job_id for job in decision.jobs)
        dead.extend(letter.job.job_id for letter in decision.dead_letters)
        state = decision.state
    return {
        "events": events,
        "jobs": jobs,
        "dead_letters": dead,
        "ignored": ignored,
        "final_state": digest(state),
    }


def digest(state: RunState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "status": str(state.status),
        "reason": state.reason,
        "failed_stages": list(state.failed_stages),
        "started_at_ms": state.started_at_ms,
        "finished_at_ms": state.finished_at_ms,
        "stages": {
            name: {
                "status": str(s.status),
                "attempt": s.attempt,
                "dispatched": s.dispatched,
                "failures": s.failures,
                "infrastructure_failures": s.infrastructure_failures,
                "dead_lettered": s.dead_lettered,
                "reason": s.reason,
            }
            for name, s in state.stages.items()
        },
    }


def load(path: Path) -> tuple[list[RunEvent], dict[str, Any]]:
    """The messages and expectations of one golden file."""
    data = json.loads(path.read_text())
    messages = [from_record(m["record"], m["value"]) for m in data["messages"]]
    return messages, data["expected"]


def write(name: str, driver: Driver) -> None:
    messages = [{"record": n, "value": v} for n, v in map(to_record, driver.inbox)]
    document = {
        "scenario": SCENARIOS[name].__doc__,
        "messages": messages,
        "expected": replay(driver.inbox),
    }
    (GOLDEN / f"{name}.json").write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    for scenario, build in SCENARIOS.items():
        if sys.argv[1:] and scenario not in sys.argv[1:]:
            continue
        write(scenario, build())
        print(f"wrote {GOLDEN / scenario}.json")
