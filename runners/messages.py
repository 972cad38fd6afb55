"""The runner's one meeting point with the wire format: records in, records out.

Everything the runner sends is a domain dataclass (``StageClaimed``, ``LogChunk``, …);
everything it reads is a ``Job`` or a run event. This module turns them into Avro
single-object messages (record name = class name) and back, so no other runner module
knows about encoding.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from typing import Any

from orchestrator.domain import events, jobs, records
from orchestrator.domain.events import RunCancelled, StageCancelled
from orchestrator.domain.jobs import Job
from schemas import codec

__all__ = ["CancelNotice", "cancel_notice", "decode", "decode_job", "encode"]

_TYPES: dict[str, type] = {
    name: obj
    for module in (events, jobs, records)
    for name, obj in vars(module).items()
    if dataclasses.is_dataclass(obj) and isinstance(obj, type)
}


@dataclass(frozen=True, slots=True)
class CancelNotice:
    """A run (``stage`` None) or one stage attempt that must stop."""

    run_id: str
    stage: str | None
    attempt: int | None
    reason: str


def encode(record: Any) -> bytes:
    """The Avro message of a domain record (its record name is its class name)."""
    return codec.encode(type(record).__name__, dataclasses.asdict(record))


def decode(data: bytes) -> Any:
    """The domain record of a message."""
    decoded = codec.decode(data)
    return _build(_TYPES[decoded.name], decoded.value)


def decode_job(data: bytes) -> Job:
    """The ``Job`` of a job-topic message."""
    job = decode(data)
    if not isinstance(job, Job):
        raise TypeError(f"expected a Job, got {type(job).__name__}")
    return job


def cancel_notice(data: bytes) -> CancelNotice | None:
    """A ``StageCancelled`` or ``RunCancelled`` from ``sluice.runs``; None for anything else."""
    if codec.decode(data).name not in {"StageCancelled", "RunCancelled"}:
        return None
    event = decode(data)
    if isinstance(event, StageCancelled):
        return CancelNotice(event.run_id, event.stage, event.attempt, event.reason)
    if isinstance(event, RunCancelled):
        return CancelNotice(event.run_id, None, None, event.reason)
    return None


def _build(cls: type, value: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{k: _convert(hints[k], v) for k, v in value.items() if k in hints})


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v) for v in value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    return value
