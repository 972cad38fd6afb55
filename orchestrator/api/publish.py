"""Appending people's commands and the API's reports to ``sluice.inbox`` (key ``run_id``)."""

from __future__ import annotations

from confluent_kafka import Producer as KafkaProducer

from orchestrator.wire import encode_record
from schemas.eventlog import append_acknowledged

__all__ = ["append"]


def append(producer: KafkaProducer, topic: str, key: str, record: object) -> None:
    """Append ``record`` to ``topic`` under ``key`` and wait for Kafka's acknowledgement."""
    append_acknowledged(producer, topic, key, encode_record(record))
