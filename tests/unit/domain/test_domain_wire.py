"""orchestrator.wire: every catalogue record round-trips through its Avro record and bytes."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain import RUN_EVENT_TYPES, Job, RunRequested, TriggerSource
from orchestrator.wire import (
    RECORD_TYPES,
    WireError,
    decode_event,
    decode_record,
    encode_event,
    encode_record,
    from_record,
    to_record,
)

TEXT = st.text(max_size=12)


def values(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a field's type that the Avro schemas can carry (ints fit an Avro int)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(values(a) for a in args))
    if origin is tuple:
        return st.lists(values(args[0]), max_size=3).map(tuple)
    if origin in (Mapping, dict):
        return st.dictionaries(TEXT, values(args[1]), max_size=3)
    if hint is type(None):
        return st.none()
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint))
    if dataclasses.is_dataclass(hint):
        return records(typing.cast(type, hint))
    simple: dict[Any, st.SearchStrategy[Any]] = {
        bool: st.booleans(),
        int: st.integers(0, 2**31 - 1),
        float: st.floats(allow_nan=False, allow_infinity=False),
        str: TEXT,
        bytes: st.binary(max_size=16),
    }
    return simple[hint]


def records(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: values(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


@pytest.mark.parametrize("name", sorted(RECORD_TYPES))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_every_record_round_trips_through_its_avro_record_and_bytes(
    name: str, data: st.DataObject
) -> None:
    record = data.draw(records(RECORD_TYPES[name]))
    assert to_record(record)[0] == name
    assert from_record(*to_record(record)) == record
    assert decode_record(encode_record(record)) == record


def test_the_wire_knows_every_run_event_and_every_other_catalogue_record() -> None:
    assert {cls.__name__ for cls in RUN_EVENT_TYPES} < set(RECORD_TYPES)
    assert {"Job", "DeadLetter", "RunRequested", "LogChunk", "AuditEvent"} < set(RECORD_TYPES)


@settings(max_examples=10, deadline=None)
@given(records(Job))
def test_a_job_keeps_its_whole_stage_spec(job: Job) -> None:
    assert decode_record(encode_record(job)).stage == job.stage


def test_decode_event_refuses_a_record_that_is_not_a_run_event() -> None:
    request = RunRequested(
        request_id="q",
        run_id="r",
        pipeline_id="p",
        branch="main",
        commit_sha="c",
        source=TriggerSource.API,
        requested_by="me",
        occurred_at_ms=1,
    )
    with pytest.raises(WireError):
        decode_event(encode_event(request))


def test_an_unknown_record_name_is_a_wire_error() -> None:
    with pytest.raises(WireError):
        from_record("NoSuchRecord", {})
