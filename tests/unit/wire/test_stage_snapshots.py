"""A RunCreated's stages travel as one StageSnapshot, encoded and decoded once per pipeline
version (schemas/avro/RunCreated/v3; docs/events.md, "Records carried inside another record")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.domain import RunCreated, RunStarted, StageSpec
from orchestrator.wire import WireError, _Snapshots, decode_event, encode_event, to_record
from schemas import codec
from schemas.examples import example_of
from tests.support.runs import run_created

STAGES = (
    StageSpec(name="build", script=("make",), variables={"CC": "gcc"}),
    StageSpec(name="test", script=("make test",), needs=("build",)),
)


def test_a_run_created_carries_its_stages_as_one_stage_snapshot() -> None:
    value = to_record(run_created(STAGES))[1]

    assert value["stages"] == []
    held = codec.decode(value["stage_snapshot"])
    assert held.name == "StageSnapshot"
    assert [s["name"] for s in held.value["stages"]] == ["build", "test"]


def test_a_run_created_decodes_to_the_stages_it_was_created_with() -> None:
    created = run_created(STAGES)

    assert decode_event(encode_event(created)) == created


def test_runs_of_one_pipeline_version_carry_the_same_snapshot_bytes() -> None:
    rebuilt = tuple(replace(s, variables=dict(s.variables)) for s in STAGES)  # equal, not same

    first = to_record(run_created(STAGES))[1]["stage_snapshot"]
    second = to_record(run_created(rebuilt))[1]["stage_snapshot"]

    assert first == second


def test_a_pipeline_versions_stages_are_decoded_once() -> None:
    snapshots = _Snapshots()
    data = to_record(run_created(STAGES))[1]["stage_snapshot"]

    assert snapshots.decode(data) is snapshots.decode(data)


def test_runs_decoded_from_the_log_share_their_stages() -> None:
    one = decode_event(encode_event(run_created(STAGES)))
    other = decode_event(encode_event(run_created(STAGES)))

    assert isinstance(one, RunCreated) and isinstance(other, RunCreated)
    assert one.stages is other.stages


def test_a_run_created_of_v2_still_decodes_with_its_nested_stages() -> None:
    data = codec.encode("RunCreated", example_of("RunCreated", 2), version=2)

    created = decode_event(data)

    assert isinstance(created, RunCreated)
    assert [s.name for s in created.stages] == ["name-example", "name-example"]


def test_a_snapshot_holding_another_record_is_a_wire_error() -> None:
    value = {**to_record(run_created(STAGES))[1]}
    value["stage_snapshot"] = encode_event(RunStarted(run_id="r", occurred_at_ms=1))

    with pytest.raises(WireError, match="stage_snapshot holds a RunStarted"):
        decode_event(codec.encode("RunCreated", value))


def test_a_snapshot_that_does_not_decode_is_a_wire_error() -> None:
    value = {**to_record(run_created(STAGES))[1], "stage_snapshot": b"not avro"}

    with pytest.raises(WireError, match="stage_snapshot is not a StageSnapshot"):
        decode_event(codec.encode("RunCreated", value))


def test_the_snapshot_caches_keep_only_the_recent_ones() -> None:
    snapshots = _Snapshots(size=2)
    versions = [tuple(replace(s, image=f"python:3.{n}") for s in STAGES) for n in range(10, 14)]

    encoded = [snapshots.encode(stages) for stages in versions]

    assert [snapshots.decode(data) for data in encoded] == versions
    assert len(snapshots._encoded) <= 2 and len(snapshots._decoded) <= 2
