"""Which client errors mean a consumer or producer is dead for good and must be replaced."""

from __future__ import annotations

from confluent_kafka import KafkaError

from schemas.eventlog import is_fatal


def test_a_fenced_static_member_is_fatal_though_its_error_says_not() -> None:
    # what librdkafka hands poll() when a static member is fenced: _FATAL, fatal() False
    fenced = KafkaError(
        KafkaError._FATAL, "Fatal error: Broker: Static consumer fenced by other consumer"
    )
    assert not fenced.fatal()
    assert is_fatal(fenced)


def test_an_error_flagged_fatal_is_fatal() -> None:
    assert is_fatal(KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True))


def test_a_broker_going_away_is_not_fatal() -> None:
    assert not is_fatal(KafkaError(KafkaError._TRANSPORT, "connection refused"))
    assert not is_fatal(KafkaError(KafkaError._PARTITION_EOF))
