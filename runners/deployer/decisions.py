"""A person's decisions about the deployment under way, as the log records them.

The API appends :class:`DeploymentPromoted` / :class:`DeploymentAborted` to ``sluice.inbox``;
the decider accepts them (the fence in :mod:`orchestrator.domain.deploy_decisions`) and
appends them to ``sluice.runs``. :class:`Decisions` follows ``sluice.runs`` from just before
the deployment began (by timestamp, so nothing accepted meanwhile is missed) and hands the
deployment the decisions that name it. It reads with a group of its own that never commits:
it is an observer, not a worker.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from confluent_kafka import TopicPartition

from orchestrator.domain.events import DeploymentAborted, DeploymentPromoted
from orchestrator.wire import decode_event
from schemas.eventlog import TopicNames, consumer
from schemas.settings import ServiceSettings

__all__ = ["Decision", "DecisionSource", "Decisions"]

Decision = DeploymentPromoted | DeploymentAborted
_SLACK_MS = 5_000  # clocks of the API and this host may differ a little


class DecisionSource(Protocol):
    """Where a deployment hears a person's decisions (:class:`Decisions` reads the log)."""

    def aborted(self) -> DeploymentAborted | None: ...

    def promoted(self, step: int) -> DeploymentPromoted | None: ...


class Decisions:
    """Promotes and aborts of ``deployment_id`` appended to ``sluice.runs`` since ``since_ms``."""

    def __init__(
        self, settings: ServiceSettings, names: TopicNames, deployment_id: str, since_ms: int
    ) -> None:
        self.deployment_id = deployment_id
        self._c = consumer(settings, group=f"sluice-deployer-watch-{uuid.uuid4().hex}")
        topic = names.runs
        partitions = self._c.list_topics(topic, timeout=10).topics[topic].partitions
        wanted = [TopicPartition(topic, p, since_ms - _SLACK_MS) for p in partitions]
        found = self._c.offsets_for_times(wanted, timeout=10)
        # a partition with nothing newer answers -1: start at its end
        self._c.assign([TopicPartition(topic, t.partition, t.offset) for t in found])
        self._seen: list[Decision] = []

    def poll(self) -> list[Decision]:
        """Every decision about the deployment seen so far, in log order."""
        for msg in self._c.consume(500, timeout=0.05):
            if msg.error() is not None:
                continue
            event = decode_event(msg.value() or b"")
            if isinstance(event, Decision) and event.deployment_id == self.deployment_id:
                self._seen.append(event)
        return list(self._seen)

    def aborted(self) -> DeploymentAborted | None:
        """The abort of the deployment, once one is recorded."""
        return next((d for d in self.poll() if isinstance(d, DeploymentAborted)), None)

    def promoted(self, step: int) -> DeploymentPromoted | None:
        """The promote of the pause numbered ``step``, once one is recorded."""
        found = (d for d in self.poll() if isinstance(d, DeploymentPromoted) and d.step == step)
        return next(found, None)

    def close(self) -> None:
        self._c.close()
