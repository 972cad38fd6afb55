"""The codec: single-object encoding, typed errors, and validation that names the field."""

from __future__ import annotations

import enum
import functools
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from schemas import codec
from schemas.codec import (
    MARKER,
    Codec,
    InvalidRecord,
    MalformedMessage,
    UnknownRecord,
    UnknownSchema,
    decode,
    encode,
)
from schemas.examples import example_of
from schemas.store import SchemaStore

RECORDS = codec.record_names()
decode_at_runs_3_1042 = functools.partial(decode, topic="sluice.runs", partition=3, offset=1042)


@pytest.mark.parametrize("name", RECORDS)
def test_every_record_round_trips(name: str) -> None:
    value = example_of(name)

    decoded = decode(encode(name, value))

    newest = codec.default_codec().store.latest(name).version
    assert (decoded.name, decoded.version, decoded.value) == (name, newest, value)


def test_a_message_is_marker_then_fingerprint_then_body() -> None:
    data = encode("RunStarted", {"run_id": "r1", "occurred_at_ms": 5})

    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.fingerprint("RunStarted")
    assert data[10:] == b"\x04r1\x0a"  # Avro binary: string "r1", long 5 (zigzag)


def test_fingerprint_is_crc64_avro_of_the_parsing_canonical_form() -> None:
    # Vector from Apache Avro's share/test/data/schema-tests.txt (Java's signed long).
    raw = {
        "type": "record",
        "name": "foo",
        "namespace": "",
        "fields": [{"name": "f1", "type": "boolean"}],
    }
    store = SchemaStore(types={}, records={"foo": {1: raw}})

    assert store.latest("foo").fingerprint == (7843277075252814651).to_bytes(
        8, "little", signed=True
    )


def test_fingerprints_differ_between_records() -> None:
    fingerprints = {codec.fingerprint(name) for name in RECORDS}

    assert len(fingerprints) == len(RECORDS)


def test_encode_of_an_unknown_record_raises_unknown_record() -> None:
    with pytest.raises(UnknownRecord, match="RunExploded"):
        encode("RunExploded", {})


def test_a_missing_field_raises_invalid_record_naming_it() -> None:
    value = example_of("StageFailed")
    del value["failure_class"]

    with pytest.raises(InvalidRecord, match=r"StageFailed\.failure_class: missing") as caught:
        encode("StageFailed", value)
    assert caught.value.field == "failure_class"


def test_a_missing_nullable_field_is_still_missing() -> None:
    value = example_of("StageFailed")
    del value["exit_code"]

    with pytest.raises(InvalidRecord, match="exit_code: missing"):
        encode("StageFailed", value)


def test_a_bad_nested_field_is_named_by_its_path() -> None:
    value = example_of("StageSnapshot")
    value["stages"][1]["retry"]["max"] = "two"

    with pytest.raises(InvalidRecord, match=r"stages\[1\]\.retry\.max: expected int, got str"):
        encode("StageSnapshot", value)


def test_an_unknown_field_raises_invalid_record() -> None:
    value = {**example_of("RunStarted"), "started_by": "x"}

    with pytest.raises(InvalidRecord, match="fields not in the schema: started_by"):
        encode("RunStarted", value)


def test_an_unknown_enum_symbol_raises_invalid_record() -> None:
    value = {**example_of("StageQueued"), "priority": "urgent"}

    with pytest.raises(InvalidRecord, match="priority: 'urgent' is not one of critical"):
        encode("StageQueued", value)


def test_validate_catches_what_the_fast_writer_lets_through() -> None:
    value = {**example_of("LogChunk"), "final": "yes", "attempt": 2**40}

    with pytest.raises(InvalidRecord, match=r"LogChunk\.attempt: out of range for an Avro int"):
        codec.validate("LogChunk", value)


def test_encode_accepts_str_enums_tuples_and_read_only_mappings() -> None:
    class Priority(enum.StrEnum):
        HIGH = "high"

    value = {**example_of("RunFailed"), "failed_stages": ("build", "lint")}
    queued = {**example_of("StageQueued"), "priority": Priority.HIGH}

    assert decode(encode("RunFailed", MappingProxyType(value))).value["failed_stages"] == [
        "build",
        "lint",
    ]
    assert decode(encode("StageQueued", queued)).value["priority"] == "high"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "got an empty message"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02", "marker c301 expected, got 0000"),
        (b'{"run_id": "r1"}', "marker c301 expected, got 7b22"),
        (MARKER + b"\x01\x02\x03", "truncated: 5 bytes, shorter than the 10-byte header"),
    ],
    ids=["empty", "zeros", "json", "truncated-header"],
)
def test_a_malformed_header_raises_malformed_message_naming_the_offset(
    data: bytes, problem: str
) -> None:
    with pytest.raises(MalformedMessage) as caught:
        decode_at_runs_3_1042(data)

    assert str(caught.value).startswith("sluice.runs[3]@1042: ")
    assert problem in str(caught.value)
    assert (caught.value.topic, caught.value.partition, caught.value.offset) == (
        "sluice.runs",
        3,
        1042,
    )


def test_a_truncated_body_raises_malformed_message() -> None:
    data = encode("RunCreated", example_of("RunCreated"))

    with pytest.raises(
        MalformedMessage, match=r"sluice.runs\[3\]@1042: body does not decode as RunCreated v3"
    ):
        decode_at_runs_3_1042(data[:-7])


def test_a_garbage_body_raises_malformed_message() -> None:
    data = MARKER + codec.fingerprint("LogChunk") + b"\xff" * 40

    with pytest.raises(MalformedMessage, match="body does not decode as LogChunk v1"):
        decode_at_runs_3_1042(data)


def test_bytes_after_the_body_raise_malformed_message() -> None:
    data = encode("RunStarted", example_of("RunStarted")) + b"\x00\x00"

    with pytest.raises(MalformedMessage, match="2 unexpected bytes after the RunStarted v1 body"):
        decode_at_runs_3_1042(data)


def test_an_unknown_fingerprint_raises_unknown_schema_naming_the_offset() -> None:
    data = MARKER + bytes.fromhex("9a1c00000000beef") + b"\x00"

    with pytest.raises(UnknownSchema) as caught:
        decode_at_runs_3_1042(data)

    assert str(caught.value) == (
        "sluice.runs[3]@1042: unknown schema fingerprint 9a1c00000000beef; "
        "is this reader older than the writer? upgrade sluice"
    )
    assert caught.value.fingerprint == bytes.fromhex("9a1c00000000beef")


def test_a_decode_error_without_a_location_says_message() -> None:
    with pytest.raises(MalformedMessage, match=r"^message: "):
        decode(b"nope")


def test_decode_errors_are_not_retryable() -> None:
    with pytest.raises(MalformedMessage) as caught:
        decode(b"nope")

    assert caught.value.retryable is False


def test_an_older_version_is_resolved_into_the_newest_schema() -> None:
    v1 = _raw("StageSucceeded")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "cached", "type": "boolean", "default": False}]}
    store = SchemaStore(types={}, records={"StageSucceeded": {1: v1, 2: v2}})
    old_writer = Codec(store)
    value = example_of("StageSucceeded", 1, store=store)

    decoded = old_writer.decode(old_writer.encode("StageSucceeded", value, version=1))

    assert (decoded.version, decoded.value) == (1, {**value, "cached": False})


def test_encode_writes_the_newest_version() -> None:
    v1 = _raw("RunStarted")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "note", "type": "string", "default": ""}]}
    store = SchemaStore(types={}, records={"RunStarted": {1: v1, 2: v2}})

    data = Codec(store).encode("RunStarted", {"run_id": "r", "occurred_at_ms": 1, "note": "n"})

    assert Codec(store).decode(data).version == 2


def test_only_a_message_of_the_newest_version_is_newest() -> None:
    v1 = _raw("RunStarted")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "note", "type": "string", "default": ""}]}
    two = Codec(SchemaStore(types={}, records={"RunStarted": {1: v1, 2: v2}}))
    value = {"run_id": "r", "occurred_at_ms": 1}

    assert two.is_newest(two.encode("RunStarted", {**value, "note": "n"}))
    assert not two.is_newest(two.encode("RunStarted", value, version=1))
    assert not two.is_newest(b'{"run_id": "r"}')


def _raw(name: str) -> Any:
    path = Path(codec.__file__).parent / "avro" / name / "v1.avsc"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", RECORDS)
def test_the_record_name_is_read_from_the_header_alone(name: str) -> None:
    data = encode(name, example_of(name))

    assert codec.record_name(data[:10] + b"\xff" * 3) == name == codec.decode(data).name


def test_reading_the_record_name_of_a_malformed_header_raises_malformed_message() -> None:
    with pytest.raises(MalformedMessage, match=r"sluice.runs\[3\]@1042: not an Avro"):
        codec.record_name(b'{"run_id": "r1"}', topic="sluice.runs", partition=3, offset=1042)


def test_unfold_puts_a_held_record_back_in_place_of_the_field_it_stands_for() -> None:
    snapshot = example_of("StageSnapshot")
    value = {**example_of("RunCreated"), "stage_snapshot": encode("StageSnapshot", snapshot)}

    unfolded = codec.unfold(decode(encode("RunCreated", value))).value

    assert "stage_snapshot" not in unfolded
    assert unfolded["stages"] == snapshot["stages"]


def test_unfold_leaves_a_record_that_holds_nothing_as_it_is() -> None:
    decoded = decode(encode("RunCreated", example_of("RunCreated", 2), version=2))

    assert decoded.value["stage_snapshot"] is None
    assert codec.unfold(decoded) is decoded
