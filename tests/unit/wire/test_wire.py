"""The wire converters: every catalogue record converts both ways without loss."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator import wire
from orchestrator.domain import RunStarted, StageSucceeded
from orchestrator.wire import (
    RECORD_TYPES,
    WireError,
    decode_event,
    decode_record,
    encode_record,
    from_record,
    to_record,
)
from schemas import codec
from schemas.examples import example_of


@pytest.mark.parametrize("name", sorted(RECORD_TYPES))
def test_every_record_converts_to_its_dataclass_and_back_unchanged(name: str) -> None:
    value = example_of(name)
    obj = from_record(name, value)
    assert to_record(obj) == (name, codec.decode(codec.encode(name, value)).value)


@pytest.mark.parametrize("name", sorted(RECORD_TYPES))
def test_every_record_survives_encoding(name: str) -> None:
    obj = from_record(name, example_of(name))
    assert decode_record(encode_record(obj)) == obj


def test_every_record_of_the_catalogue_has_a_domain_type() -> None:
    assert set(codec.record_names()) == set(RECORD_TYPES)


def test_decode_event_refuses_a_record_that_is_not_a_run_event() -> None:
    job_bytes = encode_record(from_record("Job", example_of("Job")))
    with pytest.raises(WireError, match="not a run event"):
        decode_event(job_bytes, topic="sluice.inbox", partition=0, offset=7)


def test_a_value_that_is_not_a_record_is_refused() -> None:
    with pytest.raises(WireError, match="not a record"):
        to_record(object())


def test_a_run_event_decodes_to_an_equal_dataclass() -> None:
    event = StageSucceeded(
        run_id="r", stage="build", attempt=2, runner_id="x", duration_ms=5, occurred_at_ms=9
    )
    assert decode_event(encode_record(event)) == event
    assert decode_event(encode_record(RunStarted(run_id="r", occurred_at_ms=1))).run_id == "r"


def test_threads_decoding_a_record_first_at_once_all_get_it() -> None:
    # The builder of a record is compiled on first use; threads that meet it meanwhile wait
    # for it (they once took the compiler's placeholder and recursed without end).
    value = encode_record(from_record("RunCreated", example_of("RunCreated")))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave inside the compilation
    try:
        for _ in range(20):
            wire._BUILDERS.clear()
            start = threading.Barrier(8)

            def decode(_: int, start: threading.Barrier = start) -> object:
                start.wait()
                return decode_record(value)

            with ThreadPoolExecutor(8) as pool:
                decoded = list(pool.map(decode, range(8)))
            assert all(d == decoded[0] for d in decoded)
    finally:
        sys.setswitchinterval(interval)
