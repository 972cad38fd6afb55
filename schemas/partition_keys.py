"""Run ids that land on a chosen partition of ``sluice.inbox`` and ``sluice.runs``.

A run's partition is its id's murmur2 hash (:func:`schemas.eventlog.partition_for`), so
every process finds it from the id alone. Random ids spread the runs requested in the same
few milliseconds over the partitions, and the decider, which takes them into one
transaction, then writes to several partitions of ``sluice.runs``: librdkafka sends one
produce request per partition, and the broker checks and marks every partition a
transaction touches. An id drawn for the partition the edge picks for that moment keeps
such runs on one partition (docs/trigger-path.md, item 24) while the partitions still take
turns.

Pure: the randomness is an argument. The search varies the id's last four hex digits (the
random tail of a version-4 UUID) and hashes only the last 4-byte block for each candidate,
from the state the first 32 characters leave (~12 candidates for 12 partitions).
"""

from __future__ import annotations

import uuid

_SEED, _M, _R, _MASK = 0x9747B28C, 0x5BD1E995, 24, 0xFFFFFFFF
_UUID_LENGTH = 36
_TAIL = 4  # the hex digits the search varies: the last two bytes of the UUID's node
_TAILS = 16**_TAIL


class NoKeyOnPartition(ValueError):
    """No run id can be drawn for the partition asked for: it is outside
    ``0 .. partitions - 1``."""


def _mixed(h: int, block: int) -> int:
    k = (block * _M) & _MASK
    k ^= k >> _R
    k = (k * _M) & _MASK
    return ((h * _M) & _MASK) ^ k


def _block(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _finished(h: int) -> int:
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def _mixed_blocks(h: int, data: bytes) -> int:
    """``h`` after every whole 4-byte block of ``data``."""
    for at in range(0, len(data) - len(data) % 4, 4):
        h = _mixed(h, _block(data, at))
    return h


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of ``data`` (the Java client's ``Utils.murmur2``), unsigned."""
    h = _mixed_blocks(_SEED ^ len(data), data)
    rest = data[len(data) - len(data) % 4 :]
    if rest:
        h ^= int.from_bytes(rest, "little")
        h = (h * _M) & _MASK
    return _finished(h)


def run_id_on_partition(random16: bytes, partition: int, partitions: int) -> str:
    """A version-4 UUID made from ``random16`` (16 random bytes) whose text hashes to
    ``partition`` of ``partitions``; :class:`NoKeyOnPartition` if there is no such
    partition."""
    if not 0 <= partition < partitions:
        raise NoKeyOnPartition(f"partition {partition} is not one of 0..{partitions - 1}")
    text = str(uuid.UUID(bytes=random16, version=4))
    h = _mixed_blocks(_SEED ^ _UUID_LENGTH, text[: _UUID_LENGTH - _TAIL].encode())
    start = int(text[-_TAIL:], 16)
    for step in range(_TAILS):
        tail = f"{(start + step) % _TAILS:04x}"
        if (_finished(_mixed(h, _block(tail.encode(), 0))) & 0x7FFFFFFF) % partitions == partition:
            return text[:-_TAIL] + tail
    # 65,536 tails all missing one of a few dozen partitions does not happen with murmur2
    # ((11/12)^65536 for 12); should it, a fresh draw is the caller's to make.
    raise NoKeyOnPartition(f"no tail of {text[:-_TAIL]} hashes to partition {partition}")
