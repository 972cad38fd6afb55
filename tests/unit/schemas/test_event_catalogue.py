"""docs/events.md is the contract: every record, field, type and topic in it is in the store.

The markdown is parsed, not copied, so an edit to the catalogue that the schemas do not
follow (or the reverse) fails here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from schemas import codec, topics
from schemas._avro import named_types
from schemas.codec import HOLDS_RECORD

CATALOGUE = Path(__file__).resolve().parents[3] / "docs" / "events.md"
STORE = codec.default_codec().store

# Read as stage events although their names do not start with "Stage": each belongs to one
# stage attempt (its artifact, its log, its deployment), so each carries `stage` and `attempt`.
STAGE_SCOPED = {
    "DeadLetterDiscarded",
    "ArtifactStored",
    "ArtifactExpired",
    "LogArchived",
    "ImageBuilt",
    "LogExpired",
    "DeploymentStarted",
    "DeploymentSucceeded",
    "DeploymentFailed",
    "DeploymentRolledBack",
    "InstanceStarted",
    "InstanceHealthy",
    "InstanceUnhealthy",
    "TrafficShifted",
    "AnalysisMeasured",
    "DeploymentPaused",
    "DeploymentPromoted",
    "DeploymentAborted",
}
# Fields the catalogue leaves untyped that are not strings.
UNTYPED_NON_STRINGS = {"size_bytes": "long", "failure_class": "FailureClass"}


@dataclass
class Section:
    heading: str
    rows: list[list[str]] = field(default_factory=list)  # table rows, header first
    text: str = ""


def _sections() -> list[Section]:
    sections: list[Section] = []
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            sections.append(Section(line[3:]))
        elif sections and line.startswith("|") and not re.fullmatch(r"[|\s:-]+", line):
            sections[-1].rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif sections:
            sections[-1].text += line + "\n"
    return sections


SECTIONS = _sections()
SHARED = next(s for s in SECTIONS if s.heading == "Shared types")
EVENT_SECTIONS = [s for s in SECTIONS if s.rows and s.rows[0][0] in ("event", "record")]


def _names(cell: str) -> dict[str, str | None]:
    """Backticked ``name`` or ``name: type`` items of a cell, ignoring (parenthesised notes)."""
    plain = re.sub(r"\([^)]*\)", "", cell)
    return {m[1]: m[2] for m in re.finditer(r"`([a-z][a-z0-9_]*)(?::\s*([^`]+))?`", plain)}


def _expected_fields(
    section: Section, row: list[str], rows: dict[str, list[str]]
) -> dict[str, str]:
    """Field name to type, in the catalogue's notation, of one event row."""
    name, cell = row[0].strip("`"), row[-1]
    same_as = re.search(r"same fields as `(\w+)`", cell)
    if same_as:
        return _expected_fields(section, rows[same_as[1]], rows)
    found = {f: t if t else _untyped(f) for f, t in _names(cell).items()}
    if "sluice.runs" in section.heading:
        found = {"run_id": "string", **found, "occurred_at_ms": "long"}
        if name.startswith("Stage") or name in STAGE_SCOPED:
            found["stage"] = "string"
            if "no `attempt`" not in cell:
                found["attempt"] = "int"
    return found


def _untyped(name: str) -> str:
    return "long" if name.endswith("_ms") else UNTYPED_NON_STRINGS.get(name, "string")


def _render(schema: Any) -> str:
    """A schema's type written the catalogue's way: array<X>, map<X>, [null,X], short names."""
    if isinstance(schema, list):
        return "[" + ",".join(_render(branch) for branch in schema) + "]"
    if isinstance(schema, str):
        return schema.rpartition(".")[2]
    if schema["type"] == "array":
        return f"array<{_render(schema['items'])}>"
    if schema["type"] == "map":
        return f"map<{_render(schema['values'])}>"
    if HOLDS_RECORD in schema:
        return f"{schema['type']}<{schema[HOLDS_RECORD]}>"
    return str(schema["name"]).rpartition(".")[2]


def _normal(doc_type: str) -> str:
    return re.sub(r'[\s"]', "", doc_type)


def _schema_fields(schema: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: _render(f["type"]) for f in schema["fields"]}


def _event_rows() -> list[tuple[Section, list[str], dict[str, list[str]]]]:
    found = []
    for section in EVENT_SECTIONS:
        by_name = {row[0].strip("`"): row for row in section.rows[1:]}
        found += [(section, row, by_name) for row in section.rows[1:]]
    return found


EVENT_ROWS = _event_rows()
CATALOGUE_RECORDS = [row[0].strip("`") for _, row, _ in EVENT_ROWS]


def test_the_catalogue_was_parsed() -> None:
    assert len(CATALOGUE_RECORDS) >= 36
    assert {"RunCreated", "Job", "DeadLetter", "LogChunk", "AuditEvent"} <= set(CATALOGUE_RECORDS)


def test_the_store_holds_exactly_the_records_of_the_catalogue() -> None:
    assert sorted(CATALOGUE_RECORDS) == sorted(STORE.record_names())


@pytest.mark.parametrize(("section", "row", "rows"), EVENT_ROWS, ids=CATALOGUE_RECORDS)
def test_every_record_has_the_catalogue_fields_and_types(
    section: Section, row: list[str], rows: dict[str, list[str]]
) -> None:
    expected = {f: _normal(t) for f, t in _expected_fields(section, row, rows).items()}

    assert _schema_fields(STORE.latest(row[0].strip("`")).schema) == expected


@pytest.mark.parametrize("row", SHARED.rows[1:], ids=[r[0].strip("`") for r in SHARED.rows[1:]])
def test_every_shared_type_matches_the_catalogue(row: list[str]) -> None:
    name, kind, cell = row[0].strip("`"), row[1], row[2]
    schema = _shared_type(name)

    if kind == "enum":
        default = re.search(r"default `(\w+)`", cell)
        assert (schema["symbols"], schema["default"]) == (
            list(_names(cell)),
            default and default[1],
        )
    else:
        expected = {f: _normal(t or "string") for f, t in _names(cell).items()}
        assert _schema_fields(schema) == expected


def _shared_type(name: str) -> dict[str, Any]:
    for record in STORE.record_names():
        found = named_types(STORE.latest(record).schema).get(f"sluice.v1.{name}")
        if found is not None:
            return found
    raise AssertionError(f"no record uses shared type {name}")


TOPIC_SECTIONS = [s for s in SECTIONS if s.heading.startswith("`sluice.")]


def _topic_names(heading: str) -> list[str]:
    name = heading.split("`")[1]
    braces = re.fullmatch(r"(.*)\{(.*)\}", name)
    return [braces[1] + part for part in braces[2].split(",")] if braces else [name]


@pytest.mark.parametrize("section", TOPIC_SECTIONS, ids=lambda s: s.heading.split("`")[1])
def test_every_topic_of_the_catalogue_has_its_key_and_records(section: Section) -> None:
    key = re.search(r"key `?([^`)]+)`?\)", section.heading)
    listed = {row[0].strip("`") for row in section.rows[1:]}
    listed |= {m for m in re.findall(r"`([A-Z]\w*)\*?`", section.text) if m in _all_names()}
    listed |= {
        n for n in _all_names() if "`Deployment*`" in section.text and n.startswith("Deployment")
    }

    for name in _topic_names(section.heading):
        topic = topics.topic_by_name(name)
        assert key is not None and topic.key == key[1]
        assert listed <= set(topic.records), f"{name} does not carry {listed - set(topic.records)}"


def _all_names() -> set[str]:
    return set(STORE.record_names())
