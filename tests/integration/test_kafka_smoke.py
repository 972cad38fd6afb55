"""Kafka works for real: Avro across both clients (confluent-kafka and faust's aiokafka), and
transactions as the decider will use them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

from schemas import codec
from schemas.settings import ServiceSettings


def log_chunk(seq: int, data: str) -> dict[str, Any]:
    return {
        "run_id": "run-1",
        "stage": "build",
        "attempt": 1,
        "seq": seq,
        "stream": "stdout",
        "data": data,
        "final": False,
        "occurred_at_ms": 1_760_000_000_000 + seq,
    }


def consumer(settings: ServiceSettings, group: str, **extra: Any) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )


def consume_values(c: Consumer, topic: str, count: int, timeout: float = 20.0) -> list[bytes]:
    c.subscribe([topic])
    values: list[bytes] = []
    for _ in range(int(timeout / 0.2)):
        msg = c.poll(0.2)
        if msg is not None and msg.error() is None:
            values.append(msg.value() or b"")
        if len(values) >= count:
            break
    c.close()
    return values


def test_avro_from_confluent_kafka_is_read_by_aiokafka(
    settings: ServiceSettings, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("smoke")
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    producer.produce(topic, key=b"run-1", value=codec.encode("LogChunk", log_chunk(0, "héllo")))
    assert producer.flush(10) == 0

    async def read_one() -> bytes:
        c = AIOKafkaConsumer(
            topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
        )
        await c.start()
        try:
            msg = await asyncio.wait_for(c.getone(), timeout=20)
            assert msg.value is not None
            return bytes(msg.value)
        finally:
            await c.stop()

    decoded = codec.decode(asyncio.run(read_one()), topic=topic)
    assert decoded.name == "LogChunk"
    assert decoded.value["data"] == "héllo"


def test_avro_from_aiokafka_is_read_by_confluent_kafka(
    settings: ServiceSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topic = make_topic("smoke")

    async def write_one() -> None:
        p = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await p.start()
        try:
            await p.send_and_wait(topic, codec.encode("LogChunk", log_chunk(7, "from faust")))
        finally:
            await p.stop()

    asyncio.run(write_one())
    [value] = consume_values(consumer(settings, f"g{unique}"), topic, 1)
    assert codec.decode(value).value["seq"] == 7


def test_read_committed_consumer_sees_committed_transaction_and_not_aborted_one(
    settings: ServiceSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topic = make_topic("tx")
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "transactional.id": f"tx-{unique}"}
    )
    producer.init_transactions(30)
    for seq, outcome in ((1, "commit"), (2, "abort"), (3, "commit")):
        producer.begin_transaction()
        producer.produce(topic, value=codec.encode("LogChunk", log_chunk(seq, outcome)))
        if outcome == "commit":
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)

    c = consumer(settings, f"g{unique}", **{"isolation.level": "read_committed"})
    values = consume_values(c, topic, 2)
    assert [codec.decode(v).value["seq"] for v in values] == [1, 3]
