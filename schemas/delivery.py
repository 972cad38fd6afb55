"""Appending from an asyncio event loop: a coroutine produces, a :class:`DeliveryPoller`
thread serves the producer's delivery reports and hands each one back to the loop.

The trigger POST used to append from a worker thread that polled the producer until its own
report came (16 threads polling one producer under bench/api.py's 16 clients, and a thread
hop per request). ``confluent_kafka.aio.AIOProducer`` was the library answer and was not
taken: it buffers messages for up to ``buffer_timeout`` (1 s by default) and hands each
flush to a thread pool, a wait and a hop per append on a path that should have neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as KafkaProducer

from schemas.eventlog import ACK_TIMEOUT_S, EventLogUnavailable

__all__ = ["DeliveryPoller", "append_on_loop"]


class DeliveryPoller:
    """A daemon thread polling one producer, so its delivery callbacks run without anyone
    waiting on them (appends by :func:`append_on_loop` need one)."""

    def __init__(self, producer: KafkaProducer, *, name: str = "deliveries") -> None:
        """Serve ``producer``'s delivery reports once started."""
        self._producer = producer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> None:
        """Begin serving reports."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving reports (waits for the thread)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)


async def append_on_loop(
    p: KafkaProducer, topic: str, key: str, value: bytes, *, timeout_s: float = ACK_TIMEOUT_S
) -> tuple[int, int]:
    """Append ``value`` to ``topic`` under ``key``; return once Kafka acknowledged it, with
    the partition and offset it was written at. ``p`` must be served by a
    :class:`DeliveryPoller`. Raises :class:`EventLogUnavailable` if Kafka refuses the
    record or does not acknowledge it within ``timeout_s``."""
    loop = asyncio.get_running_loop()
    acknowledged: asyncio.Future[tuple[int, int]] = loop.create_future()

    def delivered(err: KafkaError | None, msg: Message) -> None:  # on the poller's thread
        where = (msg.partition() or 0, msg.offset() or 0)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, acknowledged, topic, err, where)

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            p.produce(topic, key=key.encode(), value=value, on_delivery=delivered)
            break
        except BufferError as e:  # the local queue is full: let deliveries drain it
            if time.monotonic() >= deadline:
                raise EventLogUnavailable(f"cannot append to {topic}: {e}; is Kafka up?") from e
            await asyncio.sleep(0.05)
        except KafkaException as e:
            raise EventLogUnavailable(f"cannot append to {topic}: {e}; is Kafka up?") from e
    try:
        return await asyncio.wait_for(acknowledged, max(0.0, deadline - time.monotonic()))
    except TimeoutError as e:
        raise EventLogUnavailable(f"{topic} did not acknowledge within {timeout_s} s") from e


def _settle(
    acknowledged: asyncio.Future[tuple[int, int]],
    topic: str,
    err: KafkaError | None,
    where: tuple[int, int],
) -> None:
    if acknowledged.done():  # its waiter gave up
        return
    if err is not None:
        acknowledged.set_exception(EventLogUnavailable(f"{topic} refused the record: {err}"))
    else:
        acknowledged.set_result(where)
