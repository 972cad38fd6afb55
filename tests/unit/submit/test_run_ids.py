"""A run's id is drawn at the edge for the partition of the moment: runs requested together
share a partition of sluice.runs, and the moments take turns round all of them."""

from __future__ import annotations

import time

import pytest

from orchestrator.submit import run_request
from schemas.eventlog import partition_for
from schemas.topics import RUN_PARTITIONS

TURN_NS = 20_000_000


def _partition_at(monkeypatch: pytest.MonkeyPatch, now_ns: int, branch: str = "main") -> int:
    monkeypatch.setattr(time, "time_ns", lambda: now_ns)
    _, record = run_request(
        pipeline_id="web", branch=branch, commit_sha="a" * 40, requested_by="alice"
    )
    return partition_for(record.run_id, RUN_PARTITIONS)


def test_runs_requested_in_the_same_turn_share_a_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    start = 1_780_000_000 * 10**9
    partitions = {_partition_at(monkeypatch, start + i * 1_000_000, f"b{i}") for i in range(20)}
    assert len(partitions) == 1


def test_successive_turns_go_round_every_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    start = 1_780_000_000 * 10**9
    seen = [_partition_at(monkeypatch, start + turn * TURN_NS) for turn in range(RUN_PARTITIONS)]
    assert sorted(seen) == list(range(RUN_PARTITIONS))


def test_two_runs_requested_in_one_turn_still_get_different_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_780_000_000 * 10**9)
    ids = {
        run_request(pipeline_id="web", branch="main", commit_sha="a" * 40, requested_by="a")[
            1
        ].run_id
        for _ in range(50)
    }
    assert len(ids) == 50
