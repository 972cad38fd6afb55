"""Appending from an asyncio event loop: aiokafka's producer, on the loop that appends.

The trigger POST appends one record to ``sluice.triggers`` and waits for Kafka's
acknowledgement. librdkafka sends one partition per produce request
(confluentinc/librdkafka#1700) and the triggers' keys spread over the topic's partitions,
so with it every POST was a produce request of its own, and a thread had to hand each
acknowledgement back to the loop. aiokafka's producer runs on the loop itself and sends
everything ready for a broker in one request, one request in flight at a time: under load
the POSTs of the moment share a request (docs/trigger-path.md, item 24). Its partitioner is
murmur2, the one every Sluice producer uses, so a key lands where
:func:`schemas.eventlog.partition_for` says; the trigger processor's dedup table relies on
that.

``confluent_kafka.aio.AIOProducer`` was not taken: it buffers up to ``buffer_timeout`` (1 s
by default) and flushes through a thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from schemas.eventlog import ACK_TIMEOUT_S, EventLogUnavailable
from schemas.settings import ServiceSettings

__all__ = ["LoopAppender", "WrongLoop"]


class WrongLoop(RuntimeError):
    """An append from another event loop than the one the appender serves: a bug."""


class LoopAppender:
    """Appends and waits for the acknowledgement, from coroutines of one event loop.

    Kafka is first asked on the first append, so a process starts while Kafka is down and
    its appends fail with :class:`EventLogUnavailable` until Kafka is back. The producer
    belongs to the loop of that append: an append from another loop is :class:`WrongLoop`,
    and :meth:`stop` is for that loop too."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def append(
        self, topic: str, key: str, value: bytes, *, timeout_s: float = ACK_TIMEOUT_S
    ) -> tuple[int, int]:
        """Append ``value`` to ``topic`` under ``key``; return once Kafka acknowledged it,
        with the partition and offset it was written at. Raises :class:`EventLogUnavailable`
        if Kafka refuses the record or does not acknowledge it within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        producer = await self._started(topic, deadline, timeout_s)
        try:
            async with asyncio.timeout(_left(deadline)):
                sent = await producer.send(topic, value=value, key=key.encode())
                written = await sent
        except TimeoutError as e:
            raise EventLogUnavailable(f"{topic} did not acknowledge within {timeout_s} s") from e
        except MessageSizeTooLargeError as e:
            raise EventLogUnavailable(f"cannot append to {topic}: {e!r}") from e
        except KafkaError as e:
            raise EventLogUnavailable(f"{topic} refused the record: {e!r}") from e
        return written.partition, written.offset

    async def stop(self) -> None:
        """Send what is pending and close the producer (on the loop that made it)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _started(self, topic: str, deadline: float, timeout_s: float) -> AIOKafkaProducer:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop, self._lock = loop, asyncio.Lock()
        elif self._loop is not loop:
            raise WrongLoop("a LoopAppender appends on the event loop it first appended on")
        assert self._lock is not None
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.kafka_bootstrap,
                    client_id="sluice",
                    acks="all",
                    enable_idempotence=True,
                )
                try:
                    async with asyncio.timeout(_left(deadline)):
                        await producer.start()
                except (TimeoutError, KafkaError) as e:
                    with contextlib.suppress(KafkaError):
                        await producer.stop()
                    why = f"no answer within {timeout_s} s" if isinstance(e, TimeoutError) else e
                    raise EventLogUnavailable(
                        f"cannot append to {topic}: Kafka at {self._settings.kafka_bootstrap}"
                        f" is out of reach ({why}); is Kafka up?"
                    ) from e
                self._producer = producer
            return self._producer


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
