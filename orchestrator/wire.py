"""Converters between the domain's frozen dataclasses and the Avro records of ``schemas``.

The record name of a dataclass is its class name (docs/events.md); its fields map one to one.
``to_record``/``from_record`` convert by each class's type hints, resolved once per class:
StrEnums travel as their string values, tuples as arrays, mappings as maps, nested
dataclasses (``StageSpec``, ``Job`` …) as nested records. ``encode``/``decode`` add the
single-object encoding of ``schemas.codec``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, cast

from orchestrator.domain.events import RUN_EVENT_TYPES, RunEvent
from orchestrator.domain.jobs import DeadLetter, Job
from orchestrator.domain.records import (
    AuditEvent,
    LogChunk,
    PipelineDeleted,
    PipelineRegistered,
    PipelineUpdated,
    RunRequested,
)
from schemas import codec
from schemas.errors import DomainError

__all__ = [
    "RECORD_TYPES",
    "WireError",
    "decode",
    "decode_event",
    "decode_record",
    "encode",
    "encode_event",
    "encode_record",
    "from_record",
    "to_record",
]

RECORD_TYPES: Mapping[str, type[Any]] = types.MappingProxyType(
    {
        cls.__name__: cls
        for cls in (
            *RUN_EVENT_TYPES,
            Job,
            DeadLetter,
            RunRequested,
            PipelineRegistered,
            PipelineUpdated,
            PipelineDeleted,
            LogChunk,
            AuditEvent,
        )
    }
)

Convert = Callable[[Any], Any]


class WireError(DomainError):
    """A value that is not (or does not convert to) a record of the event catalogue."""


def _identity(value: Any) -> Any:
    return value


_HINTS: dict[type[Any], tuple[tuple[str, Convert, Convert], ...]] = {}


def _hints(cls: type[Any]) -> tuple[tuple[str, Convert, Convert], ...]:
    """(field, to-wire, from-wire) for every field of a dataclass, worked out once."""
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = _converters(cls)
    return found


def _converters(cls: type[Any]) -> tuple[tuple[str, Convert, Convert], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, _to_wire(hints[f.name]), _from_wire(hints[f.name]))
        for f in dataclasses.fields(cls)
    )


def _args(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint)


def _optional_inner(hint: Any) -> Any | None:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in _args(hint) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return None


def _to_wire(hint: Any) -> Convert:
    inner = _optional_inner(hint)
    if inner is not None:
        convert = _to_wire(inner)
        return lambda v: None if v is None else convert(v)
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = _to_wire(_args(hint)[0])
        return lambda v: [item(x) for x in v]
    if origin in (Mapping, dict, typing.Mapping):
        return dict
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return lambda v: v.value
    if dataclasses.is_dataclass(hint):
        return _record_of
    return _identity


def _from_wire(hint: Any) -> Convert:
    inner = _optional_inner(hint)
    if inner is not None:
        convert = _from_wire(inner)
        return lambda v: None if v is None else convert(v)
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = _from_wire(_args(hint)[0])
        return lambda v: tuple(item(x) for x in v)
    if origin in (Mapping, dict, typing.Mapping):
        return dict
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return cast(Convert, hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls = hint
        return lambda v: _build(cls, v)
    return _identity


def _record_of(obj: Any) -> dict[str, Any]:
    return {name: to(getattr(obj, name)) for name, to, _ in _hints(type(obj))}


def _build(cls: type[Any], value: Mapping[str, Any]) -> Any:
    # a field an older record lacks takes the dataclass default, as Avro's reader default would
    return cls(**{name: back(value[name]) for name, _, back in _hints(cls) if name in value})


def to_record(obj: Any) -> tuple[str, dict[str, Any]]:
    """The record name and Avro value of a domain dataclass."""
    name = type(obj).__name__
    if name not in RECORD_TYPES:
        raise WireError(f"{name} is not a record of the event catalogue (docs/events.md)")
    return name, _record_of(obj)


def from_record(name: str, value: Mapping[str, Any]) -> Any:
    """The domain dataclass for record ``name`` with Avro ``value``."""
    cls = RECORD_TYPES.get(name)
    if cls is None:
        raise WireError(f"no domain type for record {name!r}")
    try:
        return _build(cls, value)
    except (KeyError, TypeError, ValueError) as e:
        raise WireError(f"{name} does not convert to {cls.__name__}: {e}") from e


def encode_record(obj: Any) -> bytes:
    """Any catalogue record (event, Job, DeadLetter, LogChunk …) as single-object Avro."""
    name, value = to_record(obj)
    return codec.encode(name, value)


def decode_record(
    data: bytes,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> Any:
    """The domain dataclass of any catalogue record."""
    decoded = codec.decode(data, topic=topic, partition=partition, offset=offset)
    return from_record(decoded.name, decoded.value)


def encode_event(event: Any) -> bytes:
    """A run event (or any other catalogue record) as single-object Avro."""
    return encode_record(event)


def decode_event(
    data: bytes,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> RunEvent:
    """A run event from ``sluice.inbox``/``sluice.runs``; anything else is an InvalidRecord."""
    obj = decode_record(data, topic=topic, partition=partition, offset=offset)
    if not isinstance(obj, RUN_EVENT_TYPES):
        where = f"{topic}[{partition}]@{offset}: " if topic else ""
        raise WireError(f"{where}{type(obj).__name__} is not a run event")
    return obj


encode = encode_record
decode = decode_record
