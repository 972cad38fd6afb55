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
import threading
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, cast

from orchestrator.domain.events import RUN_EVENT_TYPES, RunCreated, RunEvent
from orchestrator.domain.fleet import FLEET_RECORD_TYPES
from orchestrator.domain.jobs import DeadLetter, Job
from orchestrator.domain.model import StageSpec
from orchestrator.domain.records import (
    AuditEvent,
    CheckpointPosition,
    ClaimRefused,
    LogChunk,
    PipelineDeleted,
    PipelineRegistered,
    PipelineUpdated,
    RunCheckpoint,
    RunRequested,
    StageSnapshot,
    TestOutcomesReported,
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
            TestOutcomesReported,
            RunCheckpoint,
            CheckpointPosition,
            ClaimRefused,
            StageSnapshot,
            *FLEET_RECORD_TYPES,
        )
    }
)

Convert = Callable[[Any], Any]


class WireError(DomainError):
    """A value that is not (or does not convert to) a record of the event catalogue."""


def _identity(value: Any) -> Any:
    return value


_HINTS: dict[type[Any], tuple[tuple[str, str, Convert], ...]] = {}


def _hints(cls: type[Any]) -> tuple[tuple[str, str, Convert], ...]:
    """(Avro field, dataclass field, to-wire) for every field of a record, worked out once."""
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = _converters(cls)
    return found


def _converters(cls: type[Any]) -> tuple[tuple[str, str, Convert], ...]:
    hints = typing.get_type_hints(cls)
    found = [(f.name, f.name, _to_wire(hints[f.name])) for f in dataclasses.fields(cls)]
    held = _HELD.get(cls)
    if held is not None:  # written empty, and whole in the field that holds its snapshot
        found = [(n, a, _empty if n == held.in_place_of else c) for n, a, c in found]
        found.append((held.field, held.in_place_of, held.encode))
    return tuple(found)


def _empty(value: Any) -> list[Any]:
    return []


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


def _record_of(obj: Any) -> dict[str, Any]:
    return {name: to(getattr(obj, attr)) for name, attr, to in _hints(type(obj))}


class _Snapshots:
    """A tuple of stages as the single-object ``StageSnapshot`` a ``RunCreated`` carries in
    ``stage_snapshot`` (schemas/avro/RunCreated/v3), both ways, each done once: a pipeline
    version's stages are one tuple for the trigger processor (its parse cache) and one byte
    string on the log, however many runs carry them. The caches hold the recent ones."""

    field = "stage_snapshot"
    in_place_of = "stages"

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._lock = threading.Lock()
        # by id(): the stages' variables are dicts, so a tuple of them does not hash. Each
        # entry keeps its tuple alive, so the id is not reused while the entry exists.
        self._encoded: dict[int, tuple[tuple[StageSpec, ...], bytes]] = {}
        self._decoded: dict[bytes, tuple[StageSpec, ...]] = {}

    def encode(self, stages: tuple[StageSpec, ...]) -> bytes:
        found = self._encoded.get(id(stages))
        if found is not None and found[0] is stages:
            return found[1]
        data = codec.encode("StageSnapshot", _record_of(StageSnapshot(stages=stages)))
        self._keep(self._encoded, id(stages), (stages, data))
        self._keep(self._decoded, data, stages)
        return data

    def decode(self, data: bytes) -> tuple[StageSpec, ...]:
        found = self._decoded.get(data)
        if found is not None:
            return found
        try:
            decoded = codec.decode(data)
        except codec.SchemaError as e:
            raise WireError(f"RunCreated's {self.field} is not a StageSnapshot: {e}") from e
        if decoded.name != "StageSnapshot":
            raise WireError(
                f"RunCreated's {self.field} holds a {decoded.name}, not a StageSnapshot"
            )
        stages: tuple[StageSpec, ...] = _build(StageSnapshot, decoded.value).stages
        self._keep(self._decoded, data, stages)
        return stages

    def _keep(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            if len(cache) >= self._size:
                del cache[next(iter(cache))]  # the oldest
            cache[key] = value


_HELD: Mapping[type[Any], _Snapshots] = {RunCreated: _Snapshots()}


_BUILDERS: dict[type[Any], Callable[[Mapping[str, Any]], Any]] = {}


def _build(cls: type[Any], value: Mapping[str, Any]) -> Any:
    """``cls`` from its Avro value (the hot path of every projection's replay)."""
    builder = _BUILDERS.get(cls) or _nested_builder(cls)
    return builder(value)


def _compile_builder(cls: type[Any]) -> Callable[[Mapping[str, Any]], Any]:
    """A function building ``cls`` from its Avro value in one expression per field, nested
    records and arrays included. Generated once per class from its type hints (as
    ``dataclasses`` generates ``__init__``): converting field by field through closures
    costs a replay about a third of its speed. The code holds field names, never data."""
    names: dict[str, Any] = {"cls": cls}
    hints = typing.get_type_hints(cls)
    args = [f"{f.name}={_field_expr(f, hints[f.name], names)}" for f in dataclasses.fields(cls)]
    exec(f"def build(v):\n    return cls({', '.join(args)})\n", names)
    return cast(Callable[[Mapping[str, Any]], Any], names["build"])


def _field_expr(f: dataclasses.Field[Any], hint: Any, names: dict[str, Any]) -> str:
    """A field's expression. A field missing from the value (written before the field
    existed, e.g. a recorded v1 log) takes the dataclass default; one without a default
    is an error."""
    expr = _from_wire_expr(hint, f"v[{f.name!r}]", names, 0)
    held = _HELD.get(names["cls"])
    if held is not None and f.name == held.in_place_of:
        snapshot = f"v.get({held.field!r})"
        names["held"] = held.decode
        expr = f"(held({snapshot}) if {snapshot} is not None else {expr})"
    if f.default is not dataclasses.MISSING:
        fallback = f"d{len(names)}"
        names[fallback] = f.default
    elif f.default_factory is not dataclasses.MISSING:
        fallback = f"d{len(names)}()"
        names[fallback[:-2]] = f.default_factory
    else:
        return expr
    return f"({expr} if {f.name!r} in v else {fallback})"


def _from_wire_expr(hint: Any, src: str, names: dict[str, Any], depth: int) -> str:
    """The expression that converts the Avro value ``src`` to ``hint``."""
    inner = _optional_inner(hint)
    if inner is not None:
        expr = _from_wire_expr(inner, src, names, depth)
        return src if expr == src else f"(None if {src} is None else {expr})"
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = f"x{depth}"
        expr = _from_wire_expr(_args(hint)[0], item, names, depth + 1)
        return f"tuple({src})" if expr == item else f"tuple([{expr} for {item} in {src}])"
    if origin in (Mapping, dict, typing.Mapping):
        return f"dict({src})"
    if isinstance(hint, type) and (issubclass(hint, enum.Enum) or dataclasses.is_dataclass(hint)):
        name = f"t{len(names)}"
        names[name] = hint if issubclass(hint, enum.Enum) else _nested_builder(hint)
        return f"{name}({src})"
    return src


_COMPILING: set[type[Any]] = set()
# One thread compiles at a time; the others wait for its builder. Without it, a second
# thread decoding the same record meanwhile took the compiling thread's placeholder and
# recursed until RecursionError (seen with the decider and a reader in one process).
_COMPILE_LOCK = threading.RLock()


def _nested_builder(cls: type[Any]) -> Callable[[Mapping[str, Any]], Any]:
    """The builder of a nested record: compiled now, or on first use if ``cls`` is being
    compiled already by this thread (a record that contains itself)."""
    builder = _BUILDERS.get(cls)
    if builder is not None:
        return builder
    with _COMPILE_LOCK:
        if cls in _COMPILING:  # only the compiling thread gets here while it is set
            return lambda v: _build(cls, v)
        builder = _BUILDERS.get(cls)
        if builder is None:
            _COMPILING.add(cls)
            try:
                builder = _BUILDERS[cls] = _compile_builder(cls)
            finally:
                _COMPILING.discard(cls)
    return builder


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
