"""What the decider writes to ``sluice.runs`` for each event it decided (``outgoing_value``)."""

from __future__ import annotations

from orchestrator.domain import decide
from orchestrator.wire import decode_event, encode_event
from projections.decider import outgoing_value
from schemas.codec import encode
from schemas.examples import example_of
from tests.integration.projection.scenarios import diamond_success


def test_the_accepted_message_goes_on_in_the_bytes_it_came_in() -> None:
    received = encode_event(diamond_success("run-a")[0])
    message = decode_event(received)
    [accepted, *_] = decide(None, message).events

    assert outgoing_value(accepted, (message, received)) is received


def test_an_event_the_decider_made_is_encoded() -> None:
    received = encode_event(diamond_success("run-a")[0])
    message = decode_event(received)
    [_, made, *_] = decide(None, message).events

    assert decode_event(outgoing_value(made, (message, received))) == made


def test_a_message_of_an_older_schema_is_encoded_with_the_newest() -> None:
    older = encode("RunCreated", example_of("RunCreated", 1), version=1)
    message = decode_event(older)

    assert outgoing_value(message, (message, older)) == encode_event(message) != older
