"""A run's decoded history from ``sluice.runs``, in log order (``sluice events``, the run page).

Every event of a run sits on one partition (``partition_for(run_id, partitions)``), in the
order the decider accepted it. :func:`format_line` gives one line per event: offset, time
(ISO 8601, UTC), event name and its main fields; :func:`format_json` every field as JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaException

from schemas.codec import decode, unfold
from schemas.eventlog import (
    EventLogUnavailable,
    TopicNames,
    consumer,
    partition_for,
    read_partition,
)
from schemas.settings import ServiceSettings

__all__ = ["HistoryEntry", "format_json", "format_line", "history"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMES = ("_at_ms", "_deadline_ms")  # epoch ms fields shown as times, not numbers
_QUIET = frozenset({"run_id", "occurred_at_ms"})


@dataclass(frozen=True)
class HistoryEntry:
    """One decoded event of a run's history."""

    offset: int
    time: str
    event: str
    fields: dict[str, Any]


def history(settings: ServiceSettings, run_id: str, *, prefix: str = "") -> Iterator[HistoryEntry]:
    """Every event of ``run_id`` on ``sluice.runs``, decoded, in log order."""
    topic = TopicNames(prefix).runs
    partition = partition_for(run_id, _partitions(settings, topic))
    key = run_id.encode()
    for msg in read_partition(settings, topic, partition):
        if msg.key() != key:
            continue
        offset = msg.offset() or 0
        decoded = unfold(
            decode(msg.value() or b"", topic=topic, partition=partition, offset=offset)
        )
        value = decoded.value
        yield HistoryEntry(offset, _iso(value.get("occurred_at_ms")), decoded.name, value)


def _partitions(settings: ServiceSettings, topic: str) -> int:
    c = consumer(settings, group="sluice-events")
    deadline = time.monotonic() + 3  # a topic made a moment ago may not be in metadata yet
    try:
        while True:
            meta = c.list_topics(topic, timeout=10).topics.get(topic)
            error = None if meta is None else meta.error
            if meta is not None and error is None and meta.partitions:
                return len(meta.partitions)
            if time.monotonic() > deadline:
                raise EventLogUnavailable(
                    f"topic {topic} does not exist or has no leader ({error});"
                    " is the prefix right? is Kafka up (infra/up)?"
                )
            time.sleep(0.1)
    except KafkaException as e:
        raise EventLogUnavailable(f"cannot read the metadata of {topic}: {e}; run infra/up") from e
    finally:
        c.close()


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    at = _EPOCH + timedelta(milliseconds=ms)
    return at.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def format_line(entry: HistoryEntry) -> str:
    """``offset  time  Event  key=value ...`` with the event's main fields."""
    shown = " ".join(
        f"{name}={_iso(value) if name.endswith(_TIMES) else _short(value)}"
        for name, value in entry.fields.items()
        if name not in _QUIET and value not in (None, {}, [])
    )
    return f"{entry.offset:>8}  {entry.time}  {entry.event:<20} {shown}".rstrip()


def _short(value: Any) -> str:
    if isinstance(value, list):
        items = (v["name"] if isinstance(v, dict) and "name" in v else v for v in value)
        return "[" + ",".join(map(str, items)) + "]"
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in sorted(value.items()))
    text = str(value)
    return repr(text) if " " in text else text


def format_json(entry: HistoryEntry) -> str:
    """One JSON object: offset, time, event, then every field of the event."""
    return json.dumps(
        {"offset": entry.offset, "time": entry.time, "event": entry.event, **entry.fields},
        sort_keys=False,
        default=str,
    )
