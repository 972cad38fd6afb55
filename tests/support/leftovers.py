"""Kafka topics a test session leaves behind, and their removal.

A test names its topics with a prefix of its own, and most delete what they create. Some
topics are made by the broker itself, when code under test produces to a name nobody created
(``auto.create.topics.enable``), and a session killed mid-test deletes nothing. Hundreds of
such topics made the broker take over 90 s to start. So each session writes the prefixes it
hands out to a ledger named by its process id; at its end it deletes every topic under them,
and at its start it does the same for the ledger of any session whose process is gone. A session
keeps its own ledger after its sweep: a client still open in it can recreate a topic by
asking for its metadata, and the next session deletes that one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

__all__ = [
    "LEDGERS",
    "PrefixLedger",
    "fresh_topic_prefix",
    "remember_topic_prefix",
    "session_ledger",
    "sweep_dead_sessions",
]

LEDGERS = (
    Path(os.environ.get("SLUICE_RUN_DIR", Path.home() / ".local/state/sluice/run"))
    / "test-sessions"
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PrefixLedger:
    """The topic prefixes one test session handed out, one per line."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.path = directory / f"{self.pid}.prefixes"

    def remember(self, prefix: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(prefix + "\n")

    def prefixes(self) -> set[str]:
        if not self.path.exists():
            return set()
        return {line for line in self.path.read_text().splitlines() if line}

    def sweep(self, admin: AdminClient, *, keep: bool = False) -> list[str]:
        """Delete every topic under this ledger's prefixes, then (unless ``keep``) the ledger;
        the names deleted."""
        names = delete_topics_under(admin, self.prefixes())
        if not keep:
            self.path.unlink(missing_ok=True)
        return names


def sweep_dead_sessions(admin: AdminClient, directory: Path) -> list[str]:
    """Sweep the ledger of every session whose process no longer runs; the names deleted."""
    deleted: list[str] = []
    for path in sorted(directory.glob("*.prefixes")):
        pid = int(path.stem)
        if pid != os.getpid() and not _pid_alive(pid):
            deleted += PrefixLedger(directory, pid).sweep(admin)
    return deleted


session_ledger = PrefixLedger(LEDGERS)


def remember_topic_prefix(prefix: str) -> str:
    """Note a topic prefix this session uses, so that its topics are deleted at its end."""
    session_ledger.remember(prefix)
    return prefix


def fresh_topic_prefix(letter: str) -> str:
    """A new topic prefix (``letter`` + 8 hex digits + "."), remembered for the sweep."""
    return remember_topic_prefix(f"{letter}{uuid.uuid4().hex[:8]}.")


def delete_topics_under(admin: AdminClient, prefixes: Iterable[str]) -> list[str]:
    """Delete every topic whose name starts with one of ``prefixes``; the names deleted (a
    topic deleted meanwhile by someone else counts as deleted)."""
    under = tuple(prefixes)
    names = [t for t in admin.list_topics(timeout=30).topics if under and t.startswith(under)]
    if names:
        for future in admin.delete_topics(names, request_timeout=60).values():
            try:
                future.result()
            except KafkaException as e:
                if e.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
    return names
