"""Encode and decode Sluice records as Avro single-object messages.

Every message on every Sluice topic is one Avro single-object encoding::

    C3 01 | 8-byte CRC-64-AVRO fingerprint (little-endian) | Avro binary body

The fingerprint is that of the writer schema's parsing canonical form. Why this and not
the Confluent wire format (magic byte + 4-byte registry id): it is self-describing with
no registry service to run. The schema store is the repository itself: it holds every
version of every record, so a replay or audit tool decodes any offset of any topic with
nothing but this package, and a registry can never be lost, reset or out of step with the
code. The cost, eight bytes instead of four, is nothing beside a body.

Writers always use a record's newest version; readers resolve whatever version was written
into the newest one they know (Avro schema resolution), so ``Decoded.value`` always has
the newest fields. A fingerprint this store does not hold means the writer is newer than
the reader: :class:`UnknownSchema` says so, and where the message was read from.

Hot path: schemas are parsed once per process and each (writer, newest reader) pair is
prepared up front; encode and decode are one dict lookup plus fastavro's C reader/writer.
"""

from __future__ import annotations

__all__ = [
    "HOLDS_RECORD",
    "IN_PLACE_OF",
    "MARKER",
    "Codec",
    "Decoded",
    "InvalidRecord",
    "MalformedMessage",
    "SchemaError",
    "UndecodableMessage",
    "UnknownRecord",
    "UnknownSchema",
    "decode",
    "default_codec",
    "encode",
    "fingerprint",
    "is_newest",
    "record_name",
    "record_names",
    "unfold",
    "validate",
]

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from typing import Any, TypedDict

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from schemas._validate import find_problem
from schemas.schema_errors import (
    InvalidRecord,
    MalformedMessage,
    SchemaError,
    UndecodableMessage,
    UnknownRecord,
    UnknownSchema,
)
from schemas.store import RecordVersion, SchemaStore

MARKER = b"\xc3\x01"
# Schema attributes of a ``bytes`` field that carries a record in its single-object encoding
# (``RunCreated.stage_snapshot``): the type names the record; the field names the field it is
# written in place of (written empty then).
HOLDS_RECORD = "sluice.record"
IN_PLACE_OF = "sluice.in_place_of"
_HEADER_SIZE = len(MARKER) + 8

# What fastavro raises on a value that does not fit the schema, or on bytes that do not decode.
_WRITE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, struct.error)
_READ_ERRORS = (
    EOFError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    SchemaResolutionError,
)


class _Where(TypedDict):
    topic: str | None
    partition: int | None
    offset: int | None


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message: which record and writer version, and its value in the newest schema."""

    name: str
    version: int
    value: dict[str, Any]


class Codec:
    """Encodes with each record's newest version; decodes any version held by ``store``."""

    def __init__(self, store: SchemaStore) -> None:
        """Prepare every writer, and every (writer, newest reader) pair, of ``store``."""
        self._store = store
        self._writers = {name: store.latest(name) for name in store.record_names()}
        self._readers: dict[bytes, tuple[RecordVersion, dict[str, Any] | None]] = {}
        for name, newest in self._writers.items():
            for rv in store.versions(name):
                # None tells fastavro to read with the writer schema: no resolution needed.
                self._readers[rv.fingerprint] = (rv, None if rv is newest else newest.parsed)
        self._held = {name: _held_fields(rv.schema) for name, rv in self._writers.items()}

    @property
    def store(self) -> SchemaStore:
        """The schema store this codec reads from."""
        return self._store

    def encode(self, name: str, value: Mapping[str, Any], *, version: int | None = None) -> bytes:
        """Encode ``value`` as record ``name`` (newest version unless ``version`` is given)."""
        rv = self._writer(name, version)
        out = BytesIO()
        out.write(MARKER)
        out.write(rv.fingerprint)
        try:
            schemaless_writer(out, rv.parsed, value, strict=True, disable_tuple_notation=True)
        except _WRITE_ERRORS as e:
            raise _invalid(rv, value, str(e)) from e
        return out.getvalue()

    def decode(
        self,
        data: bytes,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> Decoded:
        """Decode one message; errors name ``topic[partition]@offset`` when given."""
        where = _Where(topic=topic, partition=partition, offset=offset)
        rv, reader = self._reader_for(data, where)
        body = BytesIO(data)
        body.seek(_HEADER_SIZE)
        try:
            value = schemaless_reader(body, rv.parsed, reader)
        except _READ_ERRORS as e:
            problem = f"body does not decode as {rv.name} v{rv.version}: {e}"
            raise MalformedMessage(problem, **where) from e
        if body.tell() != len(data):
            extra = len(data) - body.tell()
            problem = f"{extra} unexpected bytes after the {rv.name} v{rv.version} body"
            raise MalformedMessage(problem, **where)
        if not isinstance(value, dict):  # a record always decodes to a dict; narrows the type
            raise MalformedMessage(f"{rv.name} decoded to {type(value).__name__}", **where)
        return Decoded(rv.name, rv.version, value)

    def unfold(self, decoded: Decoded) -> Decoded:
        """``decoded`` with every record a ``bytes`` field holds (``HOLDS_RECORD``) decoded and
        put in place of the field it stands for (``IN_PLACE_OF``): a ``RunCreated`` v3 shows
        its ``stages`` as v1 and v2 carried them, for readers of raw values (history, audit)."""
        held = self._held.get(decoded.name, ())
        if not any(decoded.value.get(field) is not None for field, _ in held):
            return decoded
        value = dict(decoded.value)
        for field, in_place_of in held:
            data = value.pop(field)
            if data is not None:
                value[in_place_of] = self.decode(data).value[in_place_of]
        return Decoded(decoded.name, decoded.version, value)

    def record_name(
        self,
        data: bytes,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> str:
        """The record name of one message, read from its header alone (the body is not
        decoded); raises what :meth:`decode` raises for a bad header."""
        where = _Where(topic=topic, partition=partition, offset=offset)
        return self._reader_for(data, where)[0].name

    def validate(self, name: str, value: Mapping[str, Any]) -> None:
        """Check ``value`` strictly against ``name``'s newest schema; raise InvalidRecord."""
        rv = self._writer(name, None)
        problem = find_problem(rv.schema, value)
        if problem is not None:
            raise InvalidRecord(name, *problem)

    def is_newest(self, data: bytes) -> bool:
        """Whether ``data`` is written with its record's newest schema: encoding its decoded
        value again gives the same record, so the same bytes may be passed on as they are."""
        found = self._readers.get(bytes(data[2:_HEADER_SIZE]))
        return data[:2] == MARKER and found is not None and found[1] is None

    def record_names(self) -> tuple[str, ...]:
        """Every record name the store holds, sorted."""
        return self._store.record_names()

    def fingerprint(self, name: str, version: int | None = None) -> bytes:
        """The 8-byte fingerprint of ``name`` (newest version unless ``version`` is given)."""
        return self._writer(name, version).fingerprint

    def _writer(self, name: str, version: int | None) -> RecordVersion:
        if version is not None:
            return self._store.get(name, version)
        rv = self._writers.get(name)
        if rv is None:
            raise UnknownRecord(name, self.record_names())
        return rv

    def _reader_for(
        self, data: bytes, where: _Where
    ) -> tuple[RecordVersion, dict[str, Any] | None]:
        if data[:2] != MARKER:
            shown = data[:2].hex() if data else "an empty message"
            problem = f"not an Avro single-object message (marker c301 expected, got {shown})"
            raise MalformedMessage(problem, **where)
        if len(data) < _HEADER_SIZE:
            problem = f"truncated: {len(data)} bytes, shorter than the {_HEADER_SIZE}-byte header"
            raise MalformedMessage(problem, **where)
        fp = bytes(data[2:_HEADER_SIZE])
        entry = self._readers.get(fp)
        if entry is None:
            raise UnknownSchema(fp, **where)
        return entry


def _held_fields(schema: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(field, the field it is written in place of) for each field that holds a record."""
    return tuple((f["name"], f[IN_PLACE_OF]) for f in schema["fields"] if IN_PLACE_OF in f)


def _invalid(rv: RecordVersion, value: Any, fallback: str) -> InvalidRecord:
    """Explain why fastavro refused ``value``, naming the field when the strict walk finds it."""
    problem = find_problem(rv.schema, value)
    if problem is None:
        return InvalidRecord(rv.name, "", fallback)
    return InvalidRecord(rv.name, *problem)


@cache
def default_codec() -> Codec:
    """The codec over this package's schema store, loaded on first use."""
    return Codec(SchemaStore.from_package())


def encode(name: str, value: Mapping[str, Any], *, version: int | None = None) -> bytes:
    """Encode ``value`` as record ``name`` with its newest schema (see :class:`Codec`)."""
    return default_codec().encode(name, value, version=version)


def decode(
    data: bytes,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> Decoded:
    """Decode one message of any known version into the newest schema of its record."""
    return default_codec().decode(data, topic=topic, partition=partition, offset=offset)


def unfold(decoded: Decoded) -> Decoded:
    """``decoded`` with the records its bytes fields hold in place (see :meth:`Codec.unfold`)."""
    return default_codec().unfold(decoded)


def is_newest(data: bytes) -> bool:
    """Whether ``data`` is written with its record's newest schema (see :class:`Codec`)."""
    return default_codec().is_newest(data)


def record_name(
    data: bytes,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> str:
    """The record name of one message, from its header alone (see :meth:`Codec.record_name`)."""
    return default_codec().record_name(data, topic=topic, partition=partition, offset=offset)


def validate(name: str, value: Mapping[str, Any]) -> None:
    """Strictly check ``value`` against ``name``'s newest schema (slower than encode's check)."""
    default_codec().validate(name, value)


def record_names() -> tuple[str, ...]:
    """Every record name in the store, sorted."""
    return default_codec().record_names()


def fingerprint(name: str, version: int | None = None) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a record version (newest by default)."""
    return default_codec().fingerprint(name, version)
