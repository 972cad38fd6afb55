"""The topic catalogue: every Kafka topic Sluice uses, its key, size, retention and records.

``sluice.inbox`` and ``sluice.runs`` are co-partitioned by ``run_id`` (same key, same
partition count): the decider reads inbox partition *p* and appends to runs partition *p*
in one transaction, so a run's state lives in exactly one task. ``sluice.runs`` and
``sluice.audit`` are kept forever because they are the source of truth (replay rebuilds
every read model from offset 0); the rest are working queues kept for seven days.

Tests isolate themselves with a name prefix: ``with_prefix("t123.")`` gives the same
catalogue with every name prefixed (``t123.sluice.runs``).
"""

from __future__ import annotations

__all__ = [
    "AUDIT",
    "CHECKPOINTS",
    "DEAD_LETTERS",
    "DEPLOY_JOBS",
    "FLEET",
    "INBOX",
    "JOB_TOPICS_BY_PRIORITY",
    "LOGS",
    "PIPELINES",
    "PRIORITIES",
    "RUNNER_NOTICES",
    "RUNS",
    "TESTS",
    "TOPICS",
    "TRIGGERS",
    "Topic",
    "job_topic",
    "topic_by_name",
    "topic_configs",
    "with_prefix",
]

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from schemas.schema_errors import UnknownTopic

FOREVER = -1
SEVEN_DAYS_MS = 7 * 24 * 60 * 60 * 1000
PRIORITIES = ("critical", "high", "normal", "low")  # most urgent first


@dataclass(frozen=True)
class Topic:
    """One Kafka topic: what keys it, how big it is, how long it keeps data, what it carries."""

    name: str
    key: str  # what the message key is, e.g. "run_id"
    partitions: int
    retention_ms: int  # -1: forever
    cleanup_policy: str  # "delete" or "compact"
    records: tuple[str, ...]  # record names allowed on this topic
    configs: tuple[tuple[str, str], ...] = ()  # further Kafka topic configs

    def allows(self, record: str) -> bool:
        """Whether ``record`` may be written to this topic."""
        return record in self.records


_PIPELINE_EVENTS = ("PipelineRegistered", "PipelineUpdated", "PipelineDeleted")
_INBOX_RECORDS = (
    "RunCreated",
    "RunRejected",
    "RunDeduplicated",
    "StageClaimed",
    "StageHeartbeat",
    "StageSucceeded",
    "StageFailed",
    "StageCancelled",
    "ArtifactStored",
    "ArtifactExpired",
    "LogArchived",
    "ImageBuilt",
    "LogExpired",
    "DeploymentStarted",
    "DeploymentSucceeded",
    "DeploymentFailed",
    "DeploymentRolledBack",
    "InstanceStarted",
    "InstanceHealthy",
    "InstanceUnhealthy",
    "TrafficShifted",
    "AnalysisMeasured",
    "DeploymentPaused",
    "DeploymentPromoted",
    "DeploymentAborted",
    "StageLeaseExpired",
    "StageStartTimedOut",
    "StageRetryDue",
    "RunCancelRequested",
    "StageRetryRequested",
    "StageStartRequested",
    "StageRedriveRequested",
    "DeadLetterDiscarded",
)
_DECIDED_RECORDS = (
    "RunStarted",
    "StageQueued",
    "StageRetryScheduled",
    "StageSkipped",
    "StageDeadLettered",
    "StageManualWaiting",
    "RunSucceeded",
    "RunFailed",
    "RunCancelled",
)
RUN_PARTITIONS = 12  # inbox and runs must agree: they are co-partitioned by run_id

TRIGGERS = Topic(
    "sluice.triggers", "pipeline|branch|sha", 12, SEVEN_DAYS_MS, "delete", ("RunRequested",)
)
INBOX = Topic("sluice.inbox", "run_id", RUN_PARTITIONS, SEVEN_DAYS_MS, "delete", _INBOX_RECORDS)
RUNS = Topic(
    "sluice.runs", "run_id", RUN_PARTITIONS, FOREVER, "delete", _INBOX_RECORDS + _DECIDED_RECORDS
)
DEAD_LETTERS = Topic("sluice.jobs.dead", "run_id", 3, SEVEN_DAYS_MS, "delete", ("DeadLetter",))
LOGS = Topic("sluice.logs", "run_id/stage/attempt", 12, SEVEN_DAYS_MS, "delete", ("LogChunk",))
PIPELINES = Topic("sluice.pipelines", "pipeline_id", 3, SEVEN_DAYS_MS, "compact", _PIPELINE_EVENTS)
# The decider's working state, keyed by run_id, co-partitioned with sluice.runs; compaction
# keeps each run's newest record, so reading a partition costs the working state, not history.
CHECKPOINTS = Topic(
    "sluice.checkpoints",
    "run_id",
    RUN_PARTITIONS,
    FOREVER,
    "compact",
    ("RunCheckpoint", "CheckpointPosition"),
    # roll and clean often: what a takeover reads is the newest record per run, not every one
    (("segment.ms", "60000"), ("min.cleanable.dirty.ratio", "0.1"), ("segment.bytes", "16777216")),
)
AUDIT = Topic("sluice.audit", "subject", 3, FOREVER, "delete", ("AuditEvent",))
# Per-test outcomes of JUnit reports, written by runners. Keyed by pipeline: a pipeline's
# test history is one ordered partition, so the flaky-rate fold is the same on every replay.
# Kept forever: the test_outcomes read model is a fold of it.
TESTS = Topic("sluice.tests", "pipeline_id", 12, FOREVER, "delete", ("TestOutcomesReported",))
# The worker manager's decisions and its runners' lives (what `sluice pool why` explains);
# keyed by pool name, so one partition holds a pool's decisions in order.
FLEET = Topic(
    "sluice.fleet",
    "pool",
    3,
    SEVEN_DAYS_MS,
    "delete",
    ("PoolScaleDecided", "RunnerStarted", "RunnerDraining", "RunnerStopped"),
)
# What a runner must act on, copied by the decider from what it appends to sluice.runs in the
# same transaction: its claims accepted, its leases expired, its attempts cancelled; and its
# claims refused (ClaimRefused, which is on no other topic). Keyed by
# runner id, so a runner reads one partition (the notices of about runners / 12 runners)
# instead of every event of every run: the broker sends an event of sluice.runs to a reader or
# two, not to every runner. A derived copy, never replayed: kept one day.
RUNNER_NOTICES = Topic(
    "sluice.runner-notices",
    "runner_id",
    12,
    24 * 60 * 60 * 1000,
    "delete",
    ("StageClaimed", "StageLeaseExpired", "StageCancelled", "ClaimRefused"),
)
JOB_TOPICS_BY_PRIORITY: Mapping[str, Topic] = MappingProxyType(
    {
        p: Topic(f"sluice.jobs.{p}", "run_id", 12, SEVEN_DAYS_MS, "delete", ("Job",))
        for p in PRIORITIES
    }
)
# Deploy stages go to the deployer, never to a runner (invariant 8: a deploy stage succeeds
# only when its deployment did). Keyed by environment, so one partition — and so one
# deployer at a time — holds every deploy of an environment, in order.
DEPLOY_JOBS = Topic("sluice.jobs.deploy", "environment", 3, SEVEN_DAYS_MS, "delete", ("Job",))

TOPICS: tuple[Topic, ...] = (
    TRIGGERS,
    INBOX,
    RUNS,
    *JOB_TOPICS_BY_PRIORITY.values(),
    DEPLOY_JOBS,
    DEAD_LETTERS,
    LOGS,
    PIPELINES,
    AUDIT,
    CHECKPOINTS,
    TESTS,
    FLEET,
    RUNNER_NOTICES,
)
_BY_NAME = {topic.name: topic for topic in TOPICS}


def topic_by_name(name: str, *, prefix: str = "") -> Topic:
    """The catalogue entry called ``name`` (which carries ``prefix`` when one is given)."""
    topic = _BY_NAME.get(name.removeprefix(prefix)) if name.startswith(prefix) else None
    if topic is None:
        raise UnknownTopic(f"no topic {name!r} in the catalogue; known: {', '.join(_BY_NAME)}")
    return replace(topic, name=name) if prefix else topic


def job_topic(priority: str, *, prefix: str = "") -> Topic:
    """The job topic for a stage of ``priority`` (critical, high, normal or low)."""
    topic = JOB_TOPICS_BY_PRIORITY.get(str(priority))
    if topic is None:
        raise UnknownTopic(f"no job topic for priority {priority!r}; use one of {PRIORITIES}")
    return replace(topic, name=prefix + topic.name) if prefix else topic


def with_prefix(prefix: str) -> tuple[Topic, ...]:
    """The whole catalogue with ``prefix`` before every name (tests isolate themselves so)."""
    return tuple(replace(topic, name=prefix + topic.name) for topic in TOPICS)


def topic_configs(topic: Topic, *, replication: int = 1) -> dict[str, str]:
    """The Kafka topic configs to create ``topic`` with, on a cluster of ``replication`` copies."""
    configs = {
        "cleanup.policy": topic.cleanup_policy,
        "retention.ms": str(topic.retention_ms),
    }
    if topic.retention_ms == FOREVER:
        configs["retention.bytes"] = "-1"
    configs.update(topic.configs)
    if replication > 1:
        # Acknowledged writes survive one broker loss, and writes continue while one is down.
        configs["min.insync.replicas"] = str(max(1, min(2, replication - 1)))
        configs["unclean.leader.election.enable"] = "false"
    return configs
