"""Appending people's commands and the API's reports to ``sluice.inbox`` (key ``run_id``)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as KafkaProducer

from orchestrator.wire import encode_record
from schemas.eventlog import EventLogUnavailable

__all__ = ["append"]

_ACK_TIMEOUT_S = 15.0


def append(producer: KafkaProducer, topic: str, key: str, record: object) -> None:
    """Append ``record`` to ``topic`` under ``key`` and wait for Kafka's acknowledgement."""
    outcome: list[KafkaError | None] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        outcome.append(err)

    try:
        producer.produce(
            topic, key=key.encode(), value=encode_record(record), on_delivery=delivered
        )
        producer.flush(_ACK_TIMEOUT_S)
    except (KafkaException, BufferError) as e:
        raise EventLogUnavailable(f"cannot append to {topic}: {e}; is Kafka up?") from e
    if not outcome:
        raise EventLogUnavailable(f"{topic} did not acknowledge within {_ACK_TIMEOUT_S} s")
    if outcome[0] is not None:
        raise EventLogUnavailable(f"{topic} refused the record: {outcome[0]}")
