"""Schema history: golden payloads of every version, and backward compatibility."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas import codec
from schemas.codec import Codec, decode
from schemas.compat import incompatibilities, store_incompatibilities
from schemas.conventions import violations
from schemas.examples import example_of
from schemas.golden_gen import GOLDEN_DIR, golden_path, write_missing
from schemas.store import SchemaStore

STORE = codec.default_codec().store
GOLDEN = sorted(GOLDEN_DIR.glob("*/v*.bin"))
AVRO_DIR = Path(codec.__file__).parent / "avro"


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_every_golden_payload_decodes_with_the_current_reader(path: Path) -> None:
    decoded = decode(path.read_bytes(), topic=str(path))

    assert (decoded.name, f"v{decoded.version}") == (path.parent.name, path.stem)
    codec.validate(decoded.name, decoded.value)  # a complete value of the newest version


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_old_versions_keep_their_fingerprint(path: Path) -> None:
    name, version = path.parent.name, int(path.stem[1:])

    assert path.read_bytes()[2:10] == STORE.get(name, version).fingerprint, (
        f"{name} v{version} changed after it was written (was a shared type edited in place?). "
        "Old versions are history: inline the old definition into that version's file "
        "and add the change as a new version."
    )


@pytest.mark.parametrize("name", STORE.record_names())
def test_every_record_version_has_a_golden_payload(name: str) -> None:
    missing = [
        rv.version for rv in STORE.versions(name) if not golden_path(name, rv.version).exists()
    ]

    assert not missing, f"{name}: no golden payload for {missing}; run python -m schemas.golden_gen"


def test_golden_gen_only_adds_missing_files(tmp_path: Path) -> None:
    (tmp_path / "RunStarted").mkdir()
    (tmp_path / "RunStarted" / "v1.bin").write_bytes(b"history")

    written = write_missing(codec.default_codec(), tmp_path)

    assert (tmp_path / "RunStarted" / "v1.bin").read_bytes() == b"history"
    versions = sum(len(STORE.versions(name)) for name in STORE.record_names())
    assert len(written) == versions - 1


def test_every_newest_schema_reads_every_older_version() -> None:
    assert store_incompatibilities(STORE) == []


def test_a_new_field_without_a_default_is_detected() -> None:
    store = _evolve("StageSucceeded", add={"name": "cached", "type": "boolean"})

    assert store_incompatibilities(store) == [
        "StageSucceeded v2 cannot read v1: StageSucceeded.cached: new field without a default"
    ]


def test_a_new_field_with_a_default_is_compatible() -> None:
    store = _evolve("StageSucceeded", add={"name": "cached", "type": "boolean", "default": False})

    assert store_incompatibilities(store) == []


def test_a_changed_field_type_is_detected() -> None:
    store = _evolve("StageSucceeded", retype={"duration_ms": "string"})

    assert store_incompatibilities(store) == [
        "StageSucceeded v2 cannot read v1: "
        "StageSucceeded.duration_ms: the writer's long cannot be read as string"
    ]


def test_a_promoted_type_is_compatible() -> None:
    store = _evolve("StageDeadLettered", retype={"infrastructure_failures": "long"})

    assert store_incompatibilities(store) == []


def test_a_non_nullable_field_may_become_nullable_but_not_back() -> None:
    widened = _evolve("RunRejected", retype={"reason": ["null", "string"]})
    narrowed = _evolve("StageFailed", retype={"exit_code": "int"})

    assert store_incompatibilities(widened) == []
    assert store_incompatibilities(narrowed) == [
        "StageFailed v2 cannot read v1: "
        "StageFailed.exit_code: the writer's null cannot be read as int"
    ]


def test_an_incompatible_change_deep_in_a_shared_type_is_detected() -> None:
    old = STORE.latest("RunCreated").schema
    new = json.loads(
        json.dumps(old).replace('"name": "cpus", "type": "double"', '"name": "cpus", "type": "int"')
    )

    assert incompatibilities(new, old) == [
        "RunCreated.stages[].resources.cpus: the writer's double cannot be read as int"
    ]


def test_removing_an_enum_symbol_needs_the_enum_default() -> None:
    old = STORE.latest("StageQueued").schema
    new = json.loads(json.dumps(old).replace('"critical", ', ""))
    no_default = json.loads(json.dumps(new).replace('"default": "normal"', '"doc": ""'))

    assert incompatibilities(new, old) == []
    assert incompatibilities(no_default, old) == [
        "StageQueued.priority: symbols critical were removed and the enum has no default"
    ]


def test_a_renamed_record_is_detected() -> None:
    old = STORE.latest("RunStarted").schema

    assert incompatibilities({**old, "name": "sluice.v1.RunBegan"}, old) == [
        "RunBegan: the writer's RunStarted cannot be read as RunBegan"
    ]


def test_what_the_checker_accepts_fastavro_resolves() -> None:
    store = _evolve("StageFailed", add={"name": "signal", "type": ["null", "int"], "default": None})
    two_versions = Codec(store)
    old = two_versions.encode("StageFailed", example_of("StageFailed", 1, store=store), version=1)

    assert two_versions.decode(old).value["signal"] is None


@pytest.mark.parametrize("name", STORE.record_names())
def test_every_schema_follows_the_conventions(name: str) -> None:
    assert violations(STORE.latest(name).schema) == []


def test_the_conventions_catch_an_enum_without_default_and_a_bad_nullable() -> None:
    schema = json.loads(json.dumps(STORE.latest("StageFailed").schema))
    del next(f for f in schema["fields"] if f["name"] == "failure_class")["type"]["default"]
    next(f for f in schema["fields"] if f["name"] == "exit_code")["type"] = ["int", "null"]

    assert sorted(violations(schema)) == [
        "FailureClass: an enum needs a default among its symbols",
        'StageFailed.exit_code: a nullable field is ["null", ...] with "default": null',
    ]


def _evolve(
    name: str, *, add: dict[str, Any] | None = None, retype: dict[str, Any] | None = None
) -> SchemaStore:
    """A store holding the real v1 of ``name`` and a v2 changed as asked."""
    v1 = json.loads((AVRO_DIR / name / "v1.avsc").read_text(encoding="utf-8"))
    retype = retype or {}
    fields = [
        {"name": f["name"], "type": retype[f["name"]]} if f["name"] in retype else f
        for f in v1["fields"]
    ]
    v2 = {**v1, "fields": fields + ([add] if add else [])}
    types = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in (AVRO_DIR / "_types").glob("*.avsc")
    }
    return SchemaStore(types=types, records={name: {1: v1, 2: v2}})
