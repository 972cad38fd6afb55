"""Which admin and client errors mean a broker went away or a leader moved: worth asking again."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from schemas.eventlog import is_transient


def test_a_broker_killed_while_it_answered_is_transient() -> None:
    # what create_topics gave a trigger processor restarted while one broker of three was down
    destroyed = KafkaError(
        KafkaError._DESTROY_BROKER,
        "Failed while waiting for response from broker: Local: Broker handle destroyed",
    )
    assert is_transient(KafkaException(destroyed))


def test_waiting_for_a_controller_that_does_not_answer_is_transient() -> None:
    timed_out = KafkaError(KafkaError._TIMED_OUT, "Failed while waiting for controller")
    assert is_transient(KafkaException(timed_out))


def test_a_refused_request_is_not_transient() -> None:
    denied = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorized")
    assert not is_transient(KafkaException(denied))


def test_an_exception_without_a_kafka_error_is_not_transient() -> None:
    assert not is_transient(KafkaException("no error object"))
