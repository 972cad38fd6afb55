"""The runner's one meeting point with the wire format (:mod:`orchestrator.wire`).

Everything the runner sends is a domain dataclass (``StageClaimed``, ``LogChunk``, …);
everything it reads is a ``Job`` or a run event. No other runner module knows about encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator import wire
from orchestrator.domain.events import RunCancelled, StageCancelled
from orchestrator.domain.jobs import Job
from schemas import codec

__all__ = ["CancelNotice", "cancel_notice", "decode", "decode_job", "encode"]

_CANCELS = frozenset({"StageCancelled", "RunCancelled"})


@dataclass(frozen=True, slots=True)
class CancelNotice:
    """A run (``stage`` None) or one stage attempt that must stop."""

    run_id: str
    stage: str | None
    attempt: int | None
    reason: str


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
    """A ``StageCancelled`` or ``RunCancelled`` from ``sluice.runs``; None for anything else."""
    decoded = codec.decode(data)
    if decoded.name not in _CANCELS:
        return None
    event = wire.from_record(decoded.name, decoded.value)
    if isinstance(event, StageCancelled):
        return CancelNotice(event.run_id, event.stage, event.attempt, event.reason)
    if isinstance(event, RunCancelled):
        return CancelNotice(event.run_id, None, None, event.reason)
    return None
