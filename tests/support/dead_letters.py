"""Dead letters made on demand for the API and UI tests: a stand-in runner that answers
only the pipelines it is told about, failing their builds as infrastructure until fixed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator.domain import FailureClass, Job, RunEvent
from tests.integration.api.conftest import Deployment, Pipeline
from tests.support.standin_runner import Outcome, Script, StandInRunner
from tests.support.threads import running
from tests.support.waiting import eventually

__all__ = ["BROKEN_BUILD", "OwnRunsOnly", "dead_lettered_run", "standin_for"]

BROKEN_BUILD = """
name: dlq-api
stages:
  build:
    script: ["make"]
    retry: {max: 0, when: [], backoff: {base: 100ms, cap: 200ms}}
"""


class OwnRunsOnly(StandInRunner):
    """A stand-in that answers only the jobs of pipelines it has a script for (known before
    the run exists, so its first job is never taken before the test says what it does)."""

    pipelines: dict[str, Script]

    def _reports(self, job: Job) -> list[RunEvent]:
        script = self.pipelines.get(job.pipeline_id)
        if script is None:
            return []
        self.scripts[job.run_id] = script
        return super()._reports(job)


@contextmanager
def standin_for(deployment: Deployment) -> Iterator[OwnRunsOnly]:
    """A stand-in runner on the deployment's job topics while the block runs."""
    runner = OwnRunsOnly(deployment.settings, deployment.settings.topic_prefix)
    runner.pipelines = {}
    with running(runner):
        yield runner


def dead_lettered_run(
    deployment: Deployment, standin: OwnRunsOnly, pipeline: Pipeline, fixed: threading.Event
) -> tuple[str, dict[str, Any]]:
    """Trigger a run whose build fails as infrastructure until ``fixed``; its dead letter."""
    standin.pipelines[pipeline.pipeline_id] = lambda job: (
        Outcome("succeed")
        if fixed.is_set()
        else Outcome("fail", failure_class=FailureClass.INFRASTRUCTURE)
    )
    with deployment.client() as http:
        answer = http.post(
            f"/pipelines/{pipeline.pipeline_id}/runs",
            json={"branch": "main", "commit_sha": pipeline.sha},
        )
        assert answer.status_code == 201, answer.text
        run_id = answer.json()["run_id"]

        def listed() -> dict[str, Any] | None:
            rows = http.get("/dead-letters", params={"pipeline": pipeline.pipeline_id}).json()
            return next((r for r in rows if r["run_id"] == run_id), None)

        return run_id, eventually(listed, timeout=60, what="the dead letter to be listed")
