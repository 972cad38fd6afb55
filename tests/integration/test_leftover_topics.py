"""Topics left by a test session that died are deleted by the next one, and only those."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.leftovers import PrefixLedger, sweep_dead_sessions
from tests.support.waiting import eventually


def a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def create(admin: AdminClient, *names: str) -> None:
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        future.result()


def test_a_dead_sessions_topics_are_deleted_and_a_live_ones_kept(
    kafka_admin: AdminClient, unique: str, tmp_path: Path
) -> None:
    dead, alive = f"x{unique}dead.", f"x{unique}live."
    create(kafka_admin, dead + "sluice.inbox", dead + "sluice.runs", alive + "sluice.inbox")
    PrefixLedger(tmp_path, a_dead_pid()).remember(dead)
    PrefixLedger(tmp_path).remember(alive)  # this process: alive

    deleted = sweep_dead_sessions(kafka_admin, tmp_path)

    assert sorted(deleted) == [dead + "sluice.inbox", dead + "sluice.runs"]

    def topics() -> Mapping[str, object]:
        return kafka_admin.list_topics(timeout=10).topics

    try:
        eventually(lambda: not any(t.startswith(dead) for t in topics()), what="deletion")
        assert alive + "sluice.inbox" in topics()
        assert [p.stem for p in tmp_path.glob("*.prefixes")] == [str(PrefixLedger(tmp_path).pid)]
    finally:
        PrefixLedger(tmp_path).sweep(kafka_admin)
