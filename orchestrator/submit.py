"""The edge that accepts work: register a pipeline, request a run.

Both append one record and wait for Kafka's acknowledgement (acks=all), so once a call
returns the record is durable and the trigger processor will answer it. Ids and the time
are made here, at the edge: ``request_run`` pre-assigns the ``run_id`` a new run will get,
so a trigger processed twice after a crash still names one run.

Every function takes either a producer (to share one across calls) or the settings (to
make one for this call). Kafka failures surface as
:class:`~schemas.eventlog.EventLogUnavailable`; a malformed request as
:class:`InvalidRequest`, before anything is sent.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import NotRequired, TypedDict, Unpack
from urllib.parse import urlsplit

from confluent_kafka import Producer as KafkaProducer

from orchestrator.domain.records import PipelineRegistered, RunRequested
from orchestrator.domain.refs import BRANCH_RUN, RunRef
from orchestrator.domain.refs import trigger_key as _ref_key
from orchestrator.domain.statuses import Priority, TriggerSource
from orchestrator.wire import encode_record
from schemas.errors import DomainError
from schemas.eventlog import TopicNames, append_acknowledged, producer
from schemas.partition_keys import run_id_on_partition
from schemas.settings import ServiceSettings
from schemas.topics import RUN_PARTITIONS

__all__ = [
    "InvalidRequest",
    "RunAsk",
    "register_pipeline",
    "request_run",
    "run_request",
    "trigger_key",
]

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")

Target = KafkaProducer | ServiceSettings


class InvalidRequest(DomainError):
    """A registration or run request is malformed; the message names the field to fix."""


def trigger_key(pipeline_id: str, branch: str, commit_sha: str, ref: RunRef = BRANCH_RUN) -> str:
    """``pipeline|branch|sha`` (plus the tag or merge request): the key of ``sluice.triggers``."""
    return _ref_key(pipeline_id, branch, commit_sha, ref)


def register_pipeline(
    target: Target,
    *,
    pipeline_id: str,
    name: str,
    repo_url: str,
    config_path: str = "pipeline.yaml",
    default_branch: str = "main",
    priority: Priority | None = None,
    prefix: str = "",
) -> PipelineRegistered:
    """Append ``PipelineRegistered`` to ``sluice.pipelines`` (key ``pipeline_id``)."""
    _check_id(pipeline_id)
    _require(name=name, repo_url=repo_url, config_path=config_path, branch=default_branch)
    _check_no_credentials(repo_url)
    record = PipelineRegistered(
        pipeline_id=pipeline_id,
        name=name,
        repo_url=repo_url,
        config_path=config_path,
        default_branch=default_branch,
        priority=priority,
        occurred_at_ms=_now_ms(),
    )
    _send(target, TopicNames(prefix).pipelines, pipeline_id, encode_record(record))
    return record


class RunAsk(TypedDict):
    """What a run request asks for (``source`` defaults to the API, ``ref`` to a branch run)."""

    pipeline_id: str
    branch: str
    commit_sha: str
    requested_by: str
    source: NotRequired[TriggerSource]
    urgent: NotRequired[bool]
    variables: NotRequired[Mapping[str, str] | None]
    occurred_at_ms: NotRequired[int | None]
    ref: NotRequired[RunRef]


def request_run(target: Target, *, prefix: str = "", **ask: Unpack[RunAsk]) -> RunRequested:
    """Append ``RunRequested`` to ``sluice.triggers``; the returned record names its run_id."""
    key, record = run_request(**ask)
    _send(target, TopicNames(prefix).triggers, key, encode_record(record))
    return record


def run_request(**ask: Unpack[RunAsk]) -> tuple[str, RunRequested]:
    """A checked ``RunRequested`` with its key on ``sluice.triggers`` (not yet appended);
    :class:`InvalidRequest` names what is wrong."""
    pipeline_id, branch, commit_sha = ask["pipeline_id"], ask["branch"], ask["commit_sha"]
    requested_by, ref = ask["requested_by"], ask.get("ref", BRANCH_RUN)
    occurred_at_ms = ask.get("occurred_at_ms")
    _check_id(pipeline_id)
    _require(branch=branch, requested_by=requested_by)
    if not _SHA.fullmatch(commit_sha):
        raise InvalidRequest(f"commit_sha {commit_sha!r} is not a commit SHA (7-64 hex digits)")
    record = RunRequested(
        request_id=str(uuid.uuid4()),
        run_id=_new_run_id(),
        pipeline_id=pipeline_id,
        branch=branch,
        commit_sha=commit_sha,
        source=ask.get("source", TriggerSource.API),
        urgent=ask.get("urgent", False),
        variables=dict(ask.get("variables") or {}),
        ref_type=ref.event,
        tag=ref.tag,
        merge_request_iid=ref.merge_request_iid,
        merge_request_url=ref.merge_request_url,
        target_branch=ref.target_branch,
        requested_by=requested_by,
        occurred_at_ms=_now_ms() if occurred_at_ms is None else occurred_at_ms,
    )
    return trigger_key(pipeline_id, branch, commit_sha, ref), record


def _check_no_credentials(repo_url: str) -> None:
    """A password in the URL would reach Kafka; credentials belong in Sluice's secrets."""
    if urlsplit(repo_url).password is not None:
        raise InvalidRequest(
            "repo_url must not carry a password (it would be stored in the event log); "
            "register the URL without it and give the runner access another way"
        )


def _check_id(pipeline_id: str) -> None:
    if not pipeline_id or "|" in pipeline_id:
        raise InvalidRequest(f"pipeline_id {pipeline_id!r} must be non-empty and without '|'")


def _require(**fields: str) -> None:
    empty = [name for name, value in fields.items() if not value]
    if empty:
        raise InvalidRequest(f"{', '.join(empty)} must not be empty")


# Runs requested within one such turn share a partition of sluice.runs, so the decider's
# transaction of them writes to one partition, not to several (schemas.partition_keys); the
# turns go round the partitions, and on clocks in step every API replica takes the same.
_TURN_NS = 20_000_000


def _new_run_id() -> str:
    partition = time.time_ns() // _TURN_NS % RUN_PARTITIONS
    return run_id_on_partition(os.urandom(16), partition, RUN_PARTITIONS)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _send(target: Target, topic: str, key: str, value: bytes) -> None:
    p = producer(target) if isinstance(target, ServiceSettings) else target
    append_acknowledged(p, topic, key, value)
