"""Errors raised by the schema store, the codec and the topic catalogue.

All are :class:`~schemas.errors.DomainError`: retrying the same call cannot help::

    DomainError
    └── SchemaError
        ├── SchemaDefinitionError   an .avsc file in the store is wrong (a bug in this repo)
        ├── UnknownRecord           encode/fingerprint of a name that has no schema
        ├── InvalidRecord           a value does not match its schema (names the field)
        ├── UnknownTopic            a topic or priority that is not in the catalogue
        └── UndecodableMessage      bytes read from the log cannot be decoded
            ├── MalformedMessage    bad marker, truncated, or a body that does not decode
            └── UnknownSchema       the writer's schema fingerprint is not in this store
"""

from __future__ import annotations

__all__ = [
    "InvalidRecord",
    "MalformedMessage",
    "SchemaDefinitionError",
    "SchemaError",
    "UndecodableMessage",
    "UnknownRecord",
    "UnknownSchema",
    "UnknownTopic",
]

from schemas.errors import DomainError


class SchemaError(DomainError):
    """Base of the errors of the ``schemas`` package."""


class SchemaDefinitionError(SchemaError):
    """The schema store itself is inconsistent: fix the ``.avsc`` file named in the message."""


class UnknownRecord(SchemaError):
    """A record name that has no schema in the store."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        hint = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        super().__init__(f"no schema for record {name!r}; known records: {hint}")


class InvalidRecord(SchemaError):
    """A value that does not match its record's schema; ``field`` is the path to the culprit."""

    def __init__(self, record: str, field: str, problem: str) -> None:
        self.record = record
        self.field = field
        self.problem = problem
        where = f"{record}.{field}" if field else record
        super().__init__(f"invalid {record}: {where}: {problem}")


class UnknownTopic(SchemaError):
    """A topic name or job priority that the catalogue does not have."""


class UndecodableMessage(SchemaError):
    """Bytes from the log that cannot be decoded; says where they were read from."""

    def __init__(
        self,
        problem: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.problem = problem
        super().__init__(f"{_location(topic, partition, offset)}: {problem}")


class MalformedMessage(UndecodableMessage):
    """Not an Avro single-object message of ours: bad marker, truncated, or a broken body."""


class UnknownSchema(UndecodableMessage):
    """The message names a writer schema (by fingerprint) that this store does not hold."""

    def __init__(
        self,
        fingerprint: bytes,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.fingerprint = fingerprint
        problem = (
            f"unknown schema fingerprint {fingerprint.hex()}; "
            "is this reader older than the writer? upgrade sluice"
        )
        super().__init__(problem, topic=topic, partition=partition, offset=offset)


def _location(topic: str | None, partition: int | None, offset: int | None) -> str:
    """Format where a message came from as ``topic[partition]@offset`` (parts may be absent)."""
    text = topic if topic is not None else "message"
    if partition is not None:
        text += f"[{partition}]"
    if offset is not None:
        text += f"@{offset}"
    return text
