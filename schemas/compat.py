"""Schema evolution checks: can a reader schema read what a writer schema wrote?

:func:`incompatibilities` applies Avro's schema-resolution rules to a (reader, writer)
pair before any data exists, so an incompatible change fails a test instead of a
consumer in production. Sluice evolves every record *backward-compatibly*: the newest
version must read every older one. :func:`store_incompatibilities` checks a whole store.

The rules (Avro specification, "Schema Resolution"):

* primitives must match, or the writer's type is promoted: int to long, float or
  double; long to float or double; float to double; string and bytes either way;
* records must have the same full name (or the reader lists the writer's name as an
  alias); every reader field is either in the writer (by name or alias) with a
  resolvable type, or has a default; writer-only fields are skipped;
* enums must have the same name; a writer symbol the reader lacks needs a reader default;
* arrays and maps resolve their items and values; fixed types need the same size;
* a writer union resolves each branch; a reader union takes the first branch that
  matches the writer's type.
"""

from __future__ import annotations

__all__ = ["incompatibilities", "store_incompatibilities"]

from typing import Any

from schemas._avro import NAMED_KINDS, Names, describe, kind, named_types, resolve
from schemas.store import SchemaStore

_PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)  # (writer, reader)


def incompatibilities(reader: Any, writer: Any) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; empty when it can."""
    check = _Check(named_types(reader), named_types(writer))
    check.pair(reader, writer, _root_name(reader))
    return check.problems


def store_incompatibilities(store: SchemaStore) -> list[str]:
    """Every way in which a record's newest version cannot read one of its older versions."""
    found = []
    for name in store.record_names():
        newest = store.latest(name)
        for old in store.versions(name)[:-1]:
            for problem in incompatibilities(newest.schema, old.schema):
                found.append(f"{name} v{newest.version} cannot read v{old.version}: {problem}")
    return found


class _Check:
    def __init__(self, reader_names: Names, writer_names: Names) -> None:
        self._reader_names = reader_names
        self._writer_names = writer_names
        self._in_progress: set[tuple[str, str]] = set()  # named pairs; guards recursive types
        self.problems: list[str] = []

    def pair(self, reader: Any, writer: Any, path: str) -> None:
        reader = resolve(reader, self._reader_names)
        writer = resolve(writer, self._writer_names)
        if kind(writer) == "union":
            for branch in writer:
                self.pair(reader, branch, path)
            return
        if kind(reader) == "union":
            self._into_union(reader, writer, path)
            return
        if not _matches(reader, writer):
            self.problems.append(
                f"{path}: the writer's {describe(writer)} cannot be read as {describe(reader)}"
            )
            return
        self._inside(reader, writer, path)

    def _into_union(self, reader: list[Any], writer: Any, path: str) -> None:
        for branch in reader:
            if _matches(resolve(branch, self._reader_names), writer):
                self.pair(branch, writer, path)
                return
        self.problems.append(
            f"{path}: the writer's {describe(writer)} is in no branch of {describe(reader)}"
        )

    def _inside(self, reader: Any, writer: Any, path: str) -> None:
        avro_kind = kind(reader)
        if avro_kind == "array":
            self.pair(reader["items"], writer["items"], f"{path}[]")
        elif avro_kind == "map":
            self.pair(reader["values"], writer["values"], f"{path}{{}}")
        elif avro_kind == "enum":
            self._enum(reader, writer, path)
        elif avro_kind == "fixed" and reader["size"] != writer["size"]:
            self.problems.append(f"{path}: fixed size {writer['size']} became {reader['size']}")
        elif avro_kind in ("record", "error"):
            key = (reader["name"], writer["name"])
            if key not in self._in_progress:
                self._in_progress.add(key)
                self._record(reader, writer, path)

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        written = {field["name"]: field for field in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            source = next((written[n] for n in names if n in written), None)
            where = f"{path}.{field['name']}"
            if source is not None:
                self.pair(field["type"], source["type"], where)
            elif "default" not in field:
                self.problems.append(f"{where}: new field without a default")

    def _enum(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            self.problems.append(
                f"{path}: symbols {', '.join(missing)} were removed and the enum has no default"
            )


def _matches(reader: Any, writer: Any) -> bool:
    """Avro's shallow match: same type (and name for named types), or a promotion."""
    reader_kind, writer_kind = kind(reader), kind(writer)
    if reader_kind != writer_kind:
        return (writer_kind, reader_kind) in _PROMOTIONS
    if reader_kind in NAMED_KINDS:
        aliases = {_qualify(a, reader["name"]) for a in reader.get("aliases", ())}
        return bool(writer["name"] == reader["name"] or writer["name"] in aliases)
    return True


def _qualify(alias: str, full_name: str) -> str:
    namespace = full_name.rpartition(".")[0]
    return alias if "." in alias or not namespace else f"{namespace}.{alias}"


def _root_name(schema: Any) -> str:
    return str(schema["name"]).rpartition(".")[2] if isinstance(schema, dict) else "value"
