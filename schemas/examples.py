"""Deterministic example values for any record version, built from its schema.

Every branch is exercised: unions take their non-null branch, arrays hold two items and
maps one entry, so a golden payload made from an example covers every nested type. Used
by ``golden_gen`` and by tests that need a valid value of every record.
"""

from __future__ import annotations

__all__ = ["example", "example_of"]

from typing import Any

from schemas._avro import Names, kind, named_types, resolve
from schemas.codec import HOLDS_RECORD, IN_PLACE_OF, default_codec
from schemas.store import SchemaStore

# 2026-01-01T00:00:00Z: a plausible time for every *_ms timestamp.
_EPOCH_MS = 1_767_225_600_000


def example_of(name: str, version: int | None = None, *, store: SchemaStore | None = None) -> Any:
    """An example value of record ``name`` (newest version unless ``version`` is given)."""
    store = store if store is not None else default_codec().store
    rv = store.latest(name) if version is None else store.get(name, version)
    return example(rv.schema)


def example(schema: Any) -> Any:
    """An example value of a self-contained schema."""
    return _Example(named_types(schema)).value(schema, "value")


class _Example:
    def __init__(self, names: Names) -> None:
        self._names = names

    def value(self, schema: Any, field: str) -> Any:
        if isinstance(schema, dict) and HOLDS_RECORD in schema:  # bytes holding a record
            held = schema[HOLDS_RECORD]
            return default_codec().encode(held, example_of(held))
        schema = resolve(schema, self._names)
        avro_kind = kind(schema)
        if avro_kind == "union":
            branches = [branch for branch in schema if branch != "null"] or ["null"]
            return self.value(branches[0], field)
        if avro_kind in ("record", "error"):
            value = {f["name"]: self.value(f["type"], f["name"]) for f in schema["fields"]}
            for f in schema["fields"]:
                if IN_PLACE_OF in f:  # the other field is written empty when this one is set
                    value[f[IN_PLACE_OF]] = []
            return value
        if avro_kind == "array":
            return [self.value(schema["items"], f"{field}-{n}") for n in (1, 2)]
        if avro_kind == "map":
            return {f"{field.upper()}_KEY": self.value(schema["values"], field)}
        if avro_kind == "enum":
            return schema["symbols"][0]
        if avro_kind == "fixed":
            return bytes(schema["size"])
        return _primitive(avro_kind, field)


def _primitive(avro_kind: str, field: str) -> Any:
    if avro_kind in ("int", "long"):
        return _EPOCH_MS if field.endswith("_ms") and avro_kind == "long" else 3
    values: dict[str, Any] = {
        "null": None,
        "boolean": True,
        "float": 1.5,
        "double": 1.5,
        "bytes": field.encode(),
        "string": f"{field}-example",
    }
    return values[avro_kind]
