"""A multipart upload of unknown length with a bounded number of parts in flight.

minio's ``put_object`` either uploads parts one at a time or, in parallel, queues every part
read so far without a bound (a fast reader would hold the whole artifact in memory). Here at
most ``workers`` parts (of ``part_size`` bytes) exist at once: reading waits for a free slot.
This uses minio's multipart primitives (``_create_multipart_upload`` …), stable across 7.x.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from minio import Minio
from minio.datatypes import Part

__all__ = ["upload_stream"]


class Readable(Protocol):
    """A binary stream."""

    def read(self, n: int = -1, /) -> bytes:
        """Up to ``n`` bytes; empty at the end."""


def upload_stream(
    client: Minio, bucket: str, key: str, stream: Readable, *, part_size: int, workers: int = 3
) -> None:
    """Upload ``stream`` to ``bucket/key``; aborts the multipart upload on any error."""
    upload_id = client._create_multipart_upload(bucket, key, {"Content-Type": "application/x-tar"})
    target = _Target(client, bucket, key, upload_id)
    try:
        parts = _send_parts(target, stream, part_size=part_size, workers=workers)
        client._complete_multipart_upload(bucket, key, upload_id, parts)
    except BaseException:
        with contextlib.suppress(Exception):  # the original error is the one to report
            client._abort_multipart_upload(bucket, key, upload_id)
        raise


@dataclass(frozen=True, slots=True)
class _Target:
    client: Minio
    bucket: str
    key: str
    upload_id: str

    def send(self, data: bytes, number: int) -> str:
        return self.client._upload_part(self.bucket, self.key, data, None, self.upload_id, number)


def _send_parts(target: _Target, stream: Readable, *, part_size: int, workers: int) -> list[Part]:
    free = threading.Semaphore(workers)
    sent: list[tuple[int, Future[str]]] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="upload") as pool:
        while True:
            free.acquire()
            data = _read_full(stream, part_size)
            if not data and sent:
                break
            future = pool.submit(target.send, data, len(sent) + 1)
            future.add_done_callback(lambda _f: free.release())
            sent.append((len(sent) + 1, future))
            _raise_first_failure(sent)
            if len(data) < part_size:
                break
    return [Part(number, future.result()) for number, future in sent]


def _raise_first_failure(sent: list[tuple[int, Future[str]]]) -> None:
    for _, future in sent:
        if future.done() and future.exception() is not None:
            future.result()


def _read_full(stream: Readable, size: int) -> bytes:
    pieces, got = [], 0
    while got < size:
        piece = stream.read(size - got)
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces)
