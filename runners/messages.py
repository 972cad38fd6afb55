"""The runner's one meeting point with the wire format (:mod:`orchestrator.wire`).

Everything the runner sends is a domain dataclass (``StageClaimed``, ``LogChunk``, …);
everything it reads is a ``Job`` or a run event. No other runner module knows about encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator import wire
from orchestrator.domain.events import RunCancelled, StageCancelled, StageClaimed, StageLeaseExpired
from orchestrator.domain.jobs import Job
from orchestrator.domain.records import ClaimRefused
from schemas import codec

__all__ = [
    "CancelNotice",
    "RunNotice",
    "cancel_notice",
    "decode",
    "decode_job",
    "encode",
    "run_notice",
]

_CANCELS = frozenset({"StageCancelled", "RunCancelled"})
_CLAIM_NEWS = frozenset({"StageClaimed", "StageLeaseExpired", "ClaimRefused"})


@dataclass(frozen=True, slots=True)
class CancelNotice:
    """A run (``stage`` None) or one stage attempt that must stop."""

    run_id: str
    stage: str | None
    attempt: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class RunNotice:
    """An accepted claim (``claimed``), a refused one (``refused``, with the decider's
    ``reason``) or an expired lease (``lease_expired``) of an attempt."""

    kind: str
    run_id: str
    stage: str
    attempt: int
    runner_id: str | None
    reason: str = ""


def encode(record: Any) -> bytes:
    """The Avro message of a domain record (its record name is its class name)."""
    return wire.encode_record(record)


def decode(data: bytes) -> Any:
    """The domain record of a message."""
    return wire.decode_record(data)


def decode_job(data: bytes) -> Job:
    """The ``Job`` of a job-topic message."""
    job = wire.decode_record(data)
    if not isinstance(job, Job):
        raise wire.WireError(f"expected a Job on a job topic, got {type(job).__name__}")
    return job


def cancel_notice(data: bytes) -> CancelNotice | None:
    """A ``StageCancelled`` or ``RunCancelled`` (a run event); None for anything else."""
    if codec.record_name(data) not in _CANCELS:
        return None
    decoded = codec.decode(data)
    event = wire.from_record(decoded.name, decoded.value)
    if isinstance(event, StageCancelled):
        return CancelNotice(event.run_id, event.stage, event.attempt, event.reason)
    if isinstance(event, RunCancelled):
        return CancelNotice(event.run_id, None, None, event.reason)
    return None


def run_notice(data: bytes) -> RunNotice | None:
    """A ``StageClaimed``, ``ClaimRefused`` or ``StageLeaseExpired``; None for the rest."""
    if codec.record_name(data) not in _CLAIM_NEWS:
        return None
    decoded = codec.decode(data)
    event = wire.from_record(decoded.name, decoded.value)
    if isinstance(event, StageClaimed):
        return RunNotice("claimed", event.run_id, event.stage, event.attempt, event.runner_id)
    if isinstance(event, ClaimRefused):
        return RunNotice(
            "refused", event.run_id, event.stage, event.attempt, event.runner_id, event.reason
        )
    if isinstance(event, StageLeaseExpired):
        return RunNotice("lease_expired", event.run_id, event.stage, event.attempt, event.runner_id)
    return None
