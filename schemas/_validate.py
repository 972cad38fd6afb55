"""Find the first place where a value does not match a schema, as a field path.

fastavro's writer is fast but coarse: it accepts ``"yes"`` for a boolean and an
out-of-range int, and its messages rarely name the field. This walk is slower and exact;
the codec runs it when the writer fails (to say which field) and on ``validate``.
Messages name types, not values, so a secret in a wrong field never reaches a log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas._avro import Names, describe, kind, named_types, resolve

Problem = tuple[str, str]  # (field path, what is wrong)

_INT_RANGE = {"int": 2**31, "long": 2**63}


def find_problem(schema: Any, value: Any) -> Problem | None:
    """The first mismatch between ``value`` and the self-contained ``schema``, or None."""
    return _Walk(named_types(schema)).check(schema, value, "")


class _Walk:
    def __init__(self, names: Names) -> None:
        self._names = names

    def check(self, schema: Any, value: Any, path: str) -> Problem | None:
        schema = resolve(schema, self._names)
        avro_kind = kind(schema)
        if avro_kind == "union":
            return self._union(schema, value, path)
        if avro_kind in ("record", "error"):
            return self._record(schema, value, path)
        if avro_kind == "array":
            return self._array(schema, value, path)
        if avro_kind == "map":
            return self._map(schema, value, path)
        if avro_kind == "enum":
            return self._enum(schema, value, path)
        return _primitive(avro_kind, value, path)

    def _union(self, branches: list[Any], value: Any, path: str) -> Problem | None:
        problems = [self.check(branch, value, path) for branch in branches]
        if any(problem is None for problem in problems):
            return None
        non_null = [p for b, p in zip(branches, problems, strict=True) if b != "null"]
        if value is not None and len(non_null) == 1:
            return non_null[0]
        return path, f"expected one of {describe(branches)}, got {_type_name(value)}"

    def _record(self, schema: dict[str, Any], value: Any, path: str) -> Problem | None:
        if not isinstance(value, Mapping):
            return path, f"expected a {describe(schema)} mapping, got {_type_name(value)}"
        fields = schema["fields"]
        for field in fields:
            name = field["name"]
            where = f"{path}.{name}" if path else name
            if name not in value:
                return where, "missing (every field must be given, even when null)"
            problem = self.check(field["type"], value[name], where)
            if problem is not None:
                return problem
        extra = sorted(set(value) - {field["name"] for field in fields}, key=str)
        if extra:
            return path, f"fields not in the schema: {', '.join(map(str, extra))}"
        return None

    def _array(self, schema: dict[str, Any], value: Any, path: str) -> Problem | None:
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            return path, f"expected a list, got {_type_name(value)}"
        for index, item in enumerate(value):
            problem = self.check(schema["items"], item, f"{path}[{index}]")
            if problem is not None:
                return problem
        return None

    def _map(self, schema: dict[str, Any], value: Any, path: str) -> Problem | None:
        if not isinstance(value, Mapping):
            return path, f"expected a mapping, got {_type_name(value)}"
        for key, item in value.items():
            if not isinstance(key, str):
                return path, f"map keys must be strings, got {_type_name(key)}"
            problem = self.check(schema["values"], item, f"{path}[{key!r}]")
            if problem is not None:
                return problem
        return None

    def _enum(self, schema: dict[str, Any], value: Any, path: str) -> Problem | None:
        if isinstance(value, str) and value in schema["symbols"]:
            return None
        shown = repr(value)[:40] if isinstance(value, str) else _type_name(value)
        return path, f"{shown} is not one of {', '.join(schema['symbols'])}"


def _primitive(avro_kind: str, value: Any, path: str) -> Problem | None:
    """Check a value against a primitive type (bool is not accepted as a number)."""
    ok: bool
    if avro_kind in _INT_RANGE:
        limit = _INT_RANGE[avro_kind]
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and not -limit <= value < limit:
            return path, f"out of range for an Avro {avro_kind}"
    elif avro_kind in ("float", "double"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        expected = _PYTHON_TYPES.get(avro_kind)
        if expected is None:
            return path, f"unknown type {avro_kind!r} in the schema"
        ok = isinstance(value, expected)
    return None if ok else (path, f"expected {avro_kind}, got {_type_name(value)}")


_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "null": type(None),
    "boolean": bool,
    "string": str,
    "bytes": (bytes, bytearray),
}


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
