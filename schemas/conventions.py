"""Sluice's conventions for schemas, checked by a test so every new ``.avsc`` follows them.

* every named type lives in the ``sluice.v1`` namespace;
* every enum has a ``default`` among its symbols, so adding a symbol stays compatible;
* a nullable field is a union with ``"null"`` first and ``"default": null``;
* field names are snake_case, and a ``*_ms`` field (a time or duration) is a ``long``.
"""

from __future__ import annotations

__all__ = ["violations"]

import re
from typing import Any

from schemas._avro import kind, named_types
from schemas.store import NAMESPACE

_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def violations(schema: Any) -> list[str]:
    """Every way in which a self-contained schema breaks the conventions above."""
    found: list[str] = []
    for full_name, named in named_types(schema).items():
        short = full_name.rpartition(".")[2]
        if not full_name.startswith(f"{NAMESPACE}."):
            found.append(f"{full_name}: namespace must be {NAMESPACE}")
        if named["type"] == "enum" and named.get("default") not in named["symbols"]:
            found.append(f"{short}: an enum needs a default among its symbols")
        for field in named.get("fields", ()):
            found.extend(_field_violations(short, field))
    return found


def _field_violations(record: str, field: dict[str, Any]) -> list[str]:
    where = f"{record}.{field['name']}"
    found = []
    if not _SNAKE_CASE.fullmatch(field["name"]):
        found.append(f"{where}: field names are snake_case")
    field_type = field["type"]
    nullable = kind(field_type) == "union" and "null" in field_type
    if nullable and (field_type[0] != "null" or field.get("default", ...) is not None):
        found.append(f'{where}: a nullable field is ["null", ...] with "default": null')
    if field["name"].endswith("_ms") and field_type not in ("long", ["null", "long"]):
        found.append(f"{where}: *_ms fields are long milliseconds")
    return found
