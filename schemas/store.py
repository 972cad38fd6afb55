"""The schema store: every version of every record, loaded once from package data.

Layout, under ``schemas/avro/``::

    _types/<Name>.avsc        shared named types (Priority, StageSpec, ...), defined once
    <Record>/v<N>.avsc        version N of a record; N counts up from 1 with no gaps

A record version refers to shared types (and to other records, as ``DeadLetter`` refers
to ``Job``) by name. Loading makes each version self-contained the way Avro itself would
write it: the first occurrence of a named type is inlined, later ones stay references.
The parsing canonical form of that schema is what is fingerprinted (CRC-64-AVRO), so the
fingerprint is the one any Avro implementation computes for the same schema.

A reference resolves to the type as it is *now*. Editing a shared type in place would
therefore change the fingerprint of every old version that uses it; the golden-payload
tests catch that. To change a shared type, first inline its old definition into the old
versions that use it (a version file may be self-contained), then add new versions.
"""

from __future__ import annotations

__all__ = ["NAMESPACE", "RecordVersion", "SchemaStore"]

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, fingerprint, to_parsing_canonical_form

from schemas._avro import NAMED_KINDS, PRIMITIVES
from schemas.schema_errors import SchemaDefinitionError, UnknownRecord

NAMESPACE = "sluice.v1"
TYPES_FOLDER = "_types"
_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.avsc")

RawSchema = Any  # JSON as read from an .avsc file


@dataclass(frozen=True)
class RecordVersion:
    """One version of one record, ready to encode and decode with."""

    name: str
    version: int
    schema: dict[str, Any]  # self-contained, every name fully qualified
    parsed: dict[str, Any]  # fastavro's parsed form of ``schema``
    canonical: str  # Avro parsing canonical form
    fingerprint: bytes  # CRC-64-AVRO of ``canonical``, 8 bytes little-endian


class SchemaStore:
    """Every record's versions, indexed by name and by fingerprint. Immutable once built."""

    def __init__(
        self,
        *,
        types: Mapping[str, RawSchema],
        records: Mapping[str, Mapping[int, RawSchema]],
    ) -> None:
        """Build from raw schemas: ``types`` by type name, ``records`` by name then version."""
        definitions = _definitions(types, records)
        self._versions: dict[str, tuple[RecordVersion, ...]] = {
            name: _build_versions(name, by_version, definitions)
            for name, by_version in sorted(records.items())
        }
        self._by_fingerprint = _index_fingerprints(self._versions)

    @classmethod
    def from_package(cls) -> SchemaStore:
        """Load the store shipped in this package (``schemas/avro``)."""
        types, records = _read_tree(files("schemas").joinpath("avro"))
        return cls(types=types, records=records)

    def record_names(self) -> tuple[str, ...]:
        """Every record name, sorted."""
        return tuple(self._versions)

    def versions(self, name: str) -> tuple[RecordVersion, ...]:
        """Every version of ``name``, oldest first."""
        try:
            return self._versions[name]
        except KeyError:
            raise UnknownRecord(name, self.record_names()) from None

    def latest(self, name: str) -> RecordVersion:
        """The newest version of ``name``: what writers use and what readers resolve into."""
        return self.versions(name)[-1]

    def get(self, name: str, version: int) -> RecordVersion:
        """Version ``version`` of ``name``."""
        found = self.versions(name)
        if not 1 <= version <= len(found):
            raise UnknownRecord(f"{name} v{version}", self.record_names())
        return found[version - 1]

    def by_fingerprint(self, fp: bytes) -> RecordVersion | None:
        """The record version whose fingerprint is ``fp``, or None."""
        return self._by_fingerprint.get(fp)


def _definitions(
    types: Mapping[str, RawSchema], records: Mapping[str, Mapping[int, RawSchema]]
) -> dict[str, RawSchema]:
    """Named types a reference may resolve to: shared types, then each record's newest version."""
    found: dict[str, RawSchema] = {}
    for name, by_version in records.items():
        if by_version:
            found[_qualify(name, NAMESPACE)] = by_version[max(by_version)]
    for name, schema in types.items():
        if not isinstance(schema, dict) or schema.get("name") != name:
            raise SchemaDefinitionError(f"{TYPES_FOLDER}/{name}.avsc: must define type {name!r}")
        full = _qualify(name, schema.get("namespace", NAMESPACE))
        if full in found:
            raise SchemaDefinitionError(f"{full} is both a shared type and a record")
        found[full] = schema
    return found


def _build_versions(
    name: str, by_version: Mapping[int, RawSchema], definitions: Mapping[str, RawSchema]
) -> tuple[RecordVersion, ...]:
    """Build every version of one record, checking versions count up from 1 without gaps."""
    if sorted(by_version) != list(range(1, len(by_version) + 1)):
        raise SchemaDefinitionError(
            f"{name}: versions must be v1..vN without gaps, found {sorted(by_version)}"
        )
    return tuple(
        _build_version(name, version, by_version[version], definitions)
        for version in sorted(by_version)
    )


def _build_version(
    name: str, version: int, raw: RawSchema, definitions: Mapping[str, RawSchema]
) -> RecordVersion:
    """Inline, parse and fingerprint one record version."""
    origin = f"{name}/v{version}.avsc"
    if not isinstance(raw, dict) or raw.get("type") != "record" or raw.get("name") != name:
        raise SchemaDefinitionError(f"{origin}: must be a record named {name!r}")
    schema = _Inliner(definitions, origin).inline(raw, NAMESPACE)
    try:
        parsed = parse_schema(schema)
        canonical = to_parsing_canonical_form(schema)
    except (SchemaParseException, ValueError, KeyError, TypeError) as e:
        raise SchemaDefinitionError(f"{origin}: not a valid Avro schema: {e}") from e
    if not isinstance(parsed, dict):
        raise SchemaDefinitionError(f"{origin}: a record must parse to a dict")
    fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return RecordVersion(name, version, schema, parsed, canonical, fp)


def _index_fingerprints(
    versions: Mapping[str, tuple[RecordVersion, ...]],
) -> dict[bytes, RecordVersion]:
    """Map fingerprints to versions; two versions with one fingerprint would be ambiguous."""
    index: dict[bytes, RecordVersion] = {}
    for each in versions.values():
        for rv in each:
            other = index.setdefault(rv.fingerprint, rv)
            if other is not rv:
                raise SchemaDefinitionError(
                    f"{rv.name} v{rv.version} is identical to {other.name} v{other.version}"
                    " (same canonical form): a new version must change something"
                )
    return index


def _qualify(name: str, namespace: str) -> str:
    """The full name of ``name`` seen from ``namespace`` (Avro's rule: a dot means full)."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


class _Inliner:
    """Makes one schema self-contained: the first use of a named type becomes its definition."""

    def __init__(self, definitions: Mapping[str, RawSchema], origin: str) -> None:
        self._definitions = definitions
        self._defined: set[str] = set()
        self._origin = origin

    def inline(self, schema: RawSchema, namespace: str) -> Any:
        """Return ``schema`` with references to not-yet-defined named types expanded."""
        if isinstance(schema, str):
            return self._reference(schema, namespace)
        if isinstance(schema, list):
            return [self.inline(branch, namespace) for branch in schema]
        kind = schema.get("type") if isinstance(schema, dict) else None
        if not isinstance(kind, str | list | dict):
            raise SchemaDefinitionError(f"{self._origin}: not a schema: {schema!r}")
        if kind in NAMED_KINDS:
            return self._named(schema, namespace)
        if kind == "array":
            return {**schema, "items": self.inline(schema["items"], namespace)}
        if kind == "map":
            return {**schema, "values": self.inline(schema["values"], namespace)}
        if isinstance(kind, str) and kind in PRIMITIVES:
            return dict(schema)
        return self.inline(kind, namespace)

    def _reference(self, name: str, namespace: str) -> Any:
        if name in PRIMITIVES:
            return name
        full = _qualify(name, namespace)
        if full in self._defined:
            return full
        definition = self._definitions.get(full)
        if definition is None:
            raise SchemaDefinitionError(
                f"{self._origin}: unknown type {name!r}; define it in avro/{TYPES_FOLDER}/"
            )
        return self.inline(definition, namespace)

    def _named(self, schema: dict[str, Any], namespace: str) -> dict[str, Any]:
        full = _qualify(schema["name"], schema.get("namespace", namespace))
        if full in self._defined:
            raise SchemaDefinitionError(f"{self._origin}: {full} is defined twice")
        self._defined.add(full)
        out = {key: value for key, value in schema.items() if key != "namespace"}
        out["name"] = full
        if schema["type"] in ("record", "error"):
            own_namespace = full.rpartition(".")[0]
            out["fields"] = [
                {**field, "type": self.inline(field["type"], own_namespace)}
                for field in schema["fields"]
            ]
        return out


def _read_tree(root: Traversable) -> tuple[dict[str, RawSchema], dict[str, dict[int, RawSchema]]]:
    """Read ``_types/*.avsc`` and ``<Record>/v<N>.avsc`` below ``root``."""
    types: dict[str, RawSchema] = {}
    records: dict[str, dict[int, RawSchema]] = {}
    for folder in root.iterdir():
        if not folder.is_dir() or folder.name.startswith((".", "__")):
            continue
        if folder.name == TYPES_FOLDER:
            for file in _avsc_files(folder):
                types[file.name.removesuffix(".avsc")] = _read_json(file)
        else:
            records[folder.name] = _read_versions(folder)
    return types, records


def _read_versions(folder: Traversable) -> dict[int, RawSchema]:
    """Read ``v<N>.avsc`` files of one record folder, keyed by N."""
    found: dict[int, RawSchema] = {}
    for file in _avsc_files(folder):
        match = _VERSION_FILE.fullmatch(file.name)
        if match is None:
            raise SchemaDefinitionError(f"{folder.name}/{file.name}: name it v<N>.avsc")
        found[int(match.group(1))] = _read_json(file)
    return found


def _avsc_files(folder: Traversable) -> list[Traversable]:
    return sorted(
        (file for file in folder.iterdir() if file.name.endswith(".avsc")),
        key=lambda file: file.name,
    )


def _read_json(file: Traversable) -> RawSchema:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SchemaDefinitionError(f"{file.name}: not valid JSON: {e}") from e
