"""Small helpers to walk self-contained Avro schemas (as the store builds them)."""

from __future__ import annotations

from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})

Names = dict[str, dict[str, Any]]


def named_types(schema: Any, found: Names | None = None) -> Names:
    """Every named type defined inside ``schema``, by full name (names are already qualified)."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, found)
    elif isinstance(schema, dict):
        kind = schema["type"]
        if kind in NAMED_KINDS:
            found.setdefault(schema["name"], schema)
        for field in schema.get("fields", ()):
            named_types(field["type"], found)
        for key in ("items", "values"):
            if key in schema:
                named_types(schema[key], found)
        if not isinstance(kind, str):
            named_types(kind, found)
    return found


def resolve(schema: Any, names: Names) -> Any:
    """Replace a reference by its definition, and unwrap ``{"type": <primitive or name>}``."""
    while True:
        if isinstance(schema, str):
            return names.get(schema, schema)
        if isinstance(schema, dict) and not isinstance(schema["type"], str):
            schema = schema["type"]
            continue
        if isinstance(schema, dict) and schema["type"] not in _COMPLEX:
            schema = schema["type"]
            continue
        return schema


def kind(schema: Any) -> str:
    """The Avro type of a resolved schema: a primitive name, or record/enum/array/... or union."""
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema["type"])


def describe(schema: Any) -> str:
    """A short human name for a resolved schema, for error messages."""
    if isinstance(schema, list):
        return "[" + ", ".join(_short(branch) for branch in schema) + "]"
    return _short(schema)


def _short(schema: Any) -> str:
    if isinstance(schema, str):
        return schema.rpartition(".")[2]
    if schema["type"] in NAMED_KINDS:
        return str(schema["name"]).rpartition(".")[2]
    if schema["type"] == "array":
        return f"array<{_short(schema['items'])}>"
    if schema["type"] == "map":
        return f"map<{_short(schema['values'])}>"
    return str(schema["type"])


_COMPLEX = NAMED_KINDS | {"array", "map"}
