"""The deployer's loop: one deploy job at a time from ``sluice.jobs.deploy``.

The topic is keyed by environment, so each environment's deploys sit on one partition, in
order, and one deployer of the group owns it: one writer per environment, later deploys
queue behind the running one. A job's offset is committed once its outcome is reported.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any

import docker
from docker.errors import DockerException

from orchestrator.domain.events import StageClaimed, StageFailed, StageSucceeded
from orchestrator.domain.jobs import Job
from orchestrator.domain.rollout import Phase
from orchestrator.domain.statuses import FailureClass
from runners.deployer.decisions import Decisions
from runners.deployer.deployment import Deployment
from runners.deployer.errors import DeployerError
from runners.deployer.haproxy import HAProxy
from runners.deployer.instances import Containers
from runners.messages import decode_job
from runners.reporter import KafkaReporter
from schemas.eventlog import PATIENT_FETCH, EventLogUnavailable, TopicNames, consumer
from schemas.settings import ServiceSettings

__all__ = ["GROUP", "RUNNER_ID", "Deployer", "new_deployer_id"]

GROUP = "sluice-deployer"
# Every deployer claims and reports as one runner: Kafka gives an environment's partition to
# one deployer at a time, and one that takes over after a crash must be able to finish the
# attempt its predecessor claimed (a per-process id would be fenced off as another runner).
RUNNER_ID = GROUP
_TUNING: dict[str, Any] = {
    **PATIENT_FETCH,
    "session.timeout.ms": 6_000,
    "heartbeat.interval.ms": 1_000,
    "max.poll.interval.ms": 1_800_000,  # a deployment may take minutes between polls
    "topic.metadata.refresh.interval.ms": 5_000,
}


def new_deployer_id() -> str:
    """A fresh id for this deployer process."""
    return f"deployer-{uuid.uuid4().hex[:8]}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Deployer:
    """Consumes deploy jobs and carries each out with :class:`Deployment`."""

    def __init__(self, settings: ServiceSettings, *, prefix: str, deployer_id: str) -> None:
        self.id = RUNNER_ID
        self.process_id = deployer_id
        self.names = TopicNames(prefix)
        self.settings = settings
        self.reporter = KafkaReporter(settings, prefix=prefix)
        self.haproxy = HAProxy(settings.haproxy_dir)
        self.registry = settings.registry
        self.containers = Containers(docker.DockerClient(base_url=settings.docker_host))
        self.consumer = consumer(settings, group=prefix + GROUP, **_TUNING)
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Take and carry out deploy jobs until ``stop`` is set."""
        self.consumer.subscribe([self.names.deploy_jobs], on_assign=lambda *_: self.ready.set())
        try:
            while not stop.is_set():
                msg = self.consumer.poll(0.2)
                if msg is None or msg.error() is not None:
                    continue
                self.deploy(decode_job(msg.value() or b""))
                self.consumer.commit(message=msg, asynchronous=False)
        finally:
            self.consumer.close()
            self.reporter.close()
            self.containers.close()

    def deploy(self, job: Job) -> Phase:
        """Claim the stage, deploy, report the stage's outcome; returns how it ended."""
        started = _now_ms()
        ids: dict[str, Any] = {
            "run_id": job.run_id,
            "stage": job.stage.name,
            "attempt": job.attempt,
        }
        claim = StageClaimed(
            **ids,
            occurred_at_ms=started,
            runner_id=self.id,
            lease_deadline_ms=started + job.lease_ms,
        )
        self.reporter.report_acknowledged(claim)
        decisions = Decisions(self.settings, self.names, job.job_id, started)
        deployment = Deployment(
            job,
            self.haproxy,
            self.containers,
            self.reporter.report,
            registry=self.registry,
            decisions=decisions,
        )
        try:
            outcome = deployment.run()
        except (DeployerError, DockerException, EventLogUnavailable) as e:
            print(f"sluice deployer {self.process_id}: {job.job_id}: {e}", file=sys.stderr)
            self._failed(ids, f"the deployer could not deploy: {e}", FailureClass.INFRASTRUCTURE)
            return Phase.FAILED
        finally:
            decisions.close()
        if outcome.phase is Phase.SUCCEEDED:
            done = _now_ms()
            self.reporter.report(
                StageSucceeded(
                    **ids, occurred_at_ms=done, runner_id=self.id, duration_ms=done - started
                )
            )
        else:
            self._failed(
                ids, f"deployment {outcome.phase}: {outcome.reason}", FailureClass.DETERMINISTIC
            )
        self.reporter.flush()
        return outcome.phase

    def _failed(self, ids: dict[str, Any], reason: str, kind: FailureClass) -> None:
        self.reporter.report(
            StageFailed(
                **ids,
                occurred_at_ms=_now_ms(),
                runner_id=self.id,
                failure_class=kind,
                reason=reason,
            )
        )
        self.reporter.flush()
