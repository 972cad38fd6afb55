"""Property tests: any valid value round-trips, and no byte string breaks the decoder."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas._avro import Names, kind, named_types, resolve
from schemas.codec import MARKER, UndecodableMessage, decode, encode

STORE = codec.default_codec().store
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def values_of(schema: Any, names: Names | None = None) -> st.SearchStrategy[Any]:
    """Every value a self-contained Avro schema admits (NaN left out: it never equals itself)."""
    names = named_types(schema) if names is None else names
    schema = resolve(schema, names)
    avro_kind = kind(schema)
    if avro_kind == "union":
        return st.one_of([values_of(branch, names) for branch in schema])
    if avro_kind == "record":
        fields = {f["name"]: values_of(f["type"], names) for f in schema["fields"]}
        return st.fixed_dictionaries(fields)
    if avro_kind == "array":
        return st.lists(values_of(schema["items"], names), max_size=3)
    if avro_kind == "map":
        return st.dictionaries(st.text(), values_of(schema["values"], names), max_size=3)
    if avro_kind == "enum":
        return st.sampled_from(schema["symbols"])
    return _PRIMITIVES[avro_kind]


_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "double": st.floats(allow_nan=False),
    "string": st.text(),
    "bytes": st.binary(max_size=64),
}


@pytest.mark.parametrize("name", STORE.record_names())
@RELAXED
@given(data=st.data())
def test_any_valid_value_of_any_record_round_trips(name: str, data: st.DataObject) -> None:
    value = data.draw(values_of(STORE.latest(name).schema))

    assert decode(encode(name, value)).value == value


@RELAXED
@given(chunk=values_of(STORE.latest("LogChunk").schema), text=st.text(max_size=70_000))
def test_any_log_text_round_trips(chunk: dict[str, Any], text: str) -> None:
    value = {**chunk, "data": text}

    assert decode(encode("LogChunk", value)).value["data"] == text


@RELAXED
@given(
    request=values_of(STORE.latest("RunRequested").schema),
    variables=st.dictionaries(st.text(), st.text()),
)
def test_any_run_variables_round_trip(request: dict[str, Any], variables: dict[str, str]) -> None:
    value = {**request, "variables": variables}

    assert decode(encode("RunRequested", value)).value["variables"] == variables


@RELAXED
@given(name=st.sampled_from(STORE.record_names()), body=st.binary(max_size=200))
def test_any_body_decodes_or_raises_a_typed_error(name: str, body: bytes) -> None:
    data = MARKER + codec.fingerprint(name) + body

    try:
        decoded = decode(data, topic="sluice.runs", partition=0, offset=7)
    except UndecodableMessage as e:
        assert str(e).startswith("sluice.runs[0]@7: ")
    else:
        assert decoded.name == name


@given(data=st.binary(max_size=40))
def test_any_bytes_decode_or_raise_a_typed_error(data: bytes) -> None:
    with contextlib.suppress(UndecodableMessage):
        decode(data)


@pytest.mark.parametrize("name", STORE.record_names())
@RELAXED
@given(data=st.data())
def test_a_newest_version_message_encodes_again_to_the_same_bytes(
    name: str, data: st.DataObject
) -> None:
    message = encode(name, data.draw(values_of(STORE.latest(name).schema)))

    assert codec.is_newest(message)
    assert encode(name, decode(message).value) == message
