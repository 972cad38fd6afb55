"""The working state of a partition: finished runs leave it, checkpoints restore it exactly."""

from __future__ import annotations

import pytest

from orchestrator.domain import RunState, RunStatus, fold
from orchestrator.domain.events import RunEvent
from orchestrator.domain.records import CheckpointPosition, RunCheckpoint
from orchestrator.domain.retention import FinishedRun, Retention, leaves_working_state
from orchestrator.wire import encode_event, encode_record
from projections.working_state import (
    CHECKPOINT_FORMAT,
    POSITION_KEY,
    CheckpointUnreadable,
    PartitionState,
    restore,
)
from tests.unit.domain.domain_helpers import Driver, diamond, spec

HOUR = 3_600_000
RETENTION = Retention(reopen_ms=HOUR, manual_ms=3 * HOUR, fence_ms=10 * HOUR)


def _finished_run(run_id: str, at: int) -> list[RunEvent]:
    driver = Driver(diamond(), run_id=run_id, now=at)
    for stage in ("build", "lint", "test", "package"):
        driver.run_stage(stage)
    assert driver.run.status is RunStatus.SUCCESS
    return driver.log


def _manual_run(run_id: str, at: int) -> list[RunEvent]:
    driver = Driver([spec("build"), spec("deploy", "build", manual=True)], run_id=run_id, now=at)
    driver.run_stage("build")
    assert driver.run.status.terminal
    return driver.log


def _fold(events: list[RunEvent], start: PartitionState | None = None) -> PartitionState:
    part = start or PartitionState(0, RETENTION)
    for event in events:
        part.fold(encode_event(event), part.runs_offset)
    return part


def _ticker(at: int) -> list[RunEvent]:
    """A run created at ``at``: it moves the log clock."""
    return Driver(diamond(), run_id=f"tick-{at}", now=at).log[:1]


def _expected(events: list[RunEvent], clock: int) -> dict[str, RunState | FinishedRun]:
    """The full fold, seen through the retention rules (what checkpoint + tail must give)."""
    by_run: dict[str, list[RunEvent]] = {}
    for event in events:
        by_run.setdefault(event.run_id, []).append(event)
    seen: dict[str, RunState | FinishedRun] = {}
    for run_id, log in by_run.items():
        state = fold(log)
        assert state is not None
        ended = state.finished_at_ms or 0
        if not leaves_working_state(state, clock, RETENTION):
            seen[run_id] = state
        elif clock - ended <= RETENTION.fence_ms:
            seen[run_id] = FinishedRun(run_id, state.status, ended)
    return seen


def test_a_finished_run_leaves_the_working_state_after_its_reopen_window() -> None:
    part = _fold(_finished_run("r1", 1_000) + _ticker(1_000 + 2 * HOUR))

    part.compact()

    assert "r1" not in part.runs
    assert part.lookup("r1") == FinishedRun(
        "r1", RunStatus.SUCCESS, part.finished["r1"].finished_at_ms
    )


def test_a_finished_run_is_fenced_before_it_is_compacted() -> None:
    part = _fold(_finished_run("r1", 1_000) + _ticker(1_000 + 2 * HOUR))

    assert "r1" in part.runs and isinstance(part.lookup("r1"), FinishedRun)


def test_a_run_whose_manual_stage_waits_stays_whole_for_the_manual_window() -> None:
    part = _fold(_manual_run("r1", 1_000) + _ticker(1_000 + 2 * HOUR))
    part.compact()
    assert isinstance(part.lookup("r1"), RunState)

    _fold(_ticker(1_000 + 4 * HOUR), part).compact()
    assert isinstance(part.lookup("r1"), FinishedRun)


def test_the_fencing_record_is_forgotten_after_the_fence_window() -> None:
    part = _fold(_finished_run("r1", 1_000) + _ticker(1_000 + 2 * HOUR))
    part.take_checkpoint()
    _fold(_ticker(1_000 + 11 * HOUR), part)

    records = dict(part.take_checkpoint())

    assert part.lookup("r1") is None
    assert records[b"r1"] is None  # a tombstone: compaction drops the run from the checkpoint


def test_a_checkpoint_and_its_tail_give_the_full_fold_seen_through_retention() -> None:
    history: list[RunEvent] = []
    for n in range(12):
        history += _finished_run(f"r{n}", 1_000 + n * HOUR)
        history += _manual_run(f"m{n}", 1_000 + n * HOUR)
    history += Driver(diamond(), run_id="live", now=20 * HOUR).log
    for cut in (0, len(history) // 3, len(history) // 2, len(history) - 1):
        early = _fold(history[:cut])
        resumed = restore(0, early.take_checkpoint(), RETENTION)
        _fold(history[cut:], resumed)

        assert resumed.view() == _expected(history, resumed.clock_ms)
        assert resumed.runs_offset == len(history)


def test_only_what_changed_since_the_last_checkpoint_is_written_again() -> None:
    part = _fold(_finished_run("r1", 1_000))
    part.take_checkpoint()
    _fold(Driver(diamond(), run_id="r2", now=2_000).log, part)

    keys = [key for key, _ in part.take_checkpoint()]

    assert keys == [b"r2", POSITION_KEY]


def test_a_checkpoint_without_a_position_is_not_read() -> None:
    records = [(k, v) for k, v in _fold(_finished_run("r1", 1_000)).take_checkpoint()]

    with pytest.raises(CheckpointUnreadable, match="no checkpoint position"):
        restore(0, records[:-1])


def test_a_checkpoint_of_another_format_is_rebuilt_not_misread() -> None:
    other = CheckpointPosition(partition=0, runs_offset=5, clock_ms=1, format=CHECKPOINT_FORMAT + 1)

    with pytest.raises(CheckpointUnreadable, match=f"format {CHECKPOINT_FORMAT + 1}"):
        restore(0, [(POSITION_KEY, encode_record(other))])


def test_a_run_record_that_does_not_decode_makes_the_checkpoint_unreadable() -> None:
    position = CheckpointPosition(partition=0, runs_offset=5, clock_ms=1, format=CHECKPOINT_FORMAT)
    broken = RunCheckpoint(run_id="r1", events=(b"not avro",))
    records = [(b"r1", encode_record(broken)), (POSITION_KEY, encode_record(position))]

    with pytest.raises(CheckpointUnreadable, match="does not restore"):
        restore(0, records)


def test_the_newest_record_of_a_key_wins_and_a_tombstone_deletes_it() -> None:
    part = _fold(_finished_run("r1", 1_000))
    first = part.take_checkpoint()

    restored = restore(0, [*first, (b"r1", None), first[-1]], RETENTION)

    assert restored.lookup("r1") is None


def test_a_restored_finished_run_is_folded_only_when_a_message_about_it_arrives() -> None:
    part = _fold(_finished_run("r1", 1_000))
    restored = restore(0, part.take_checkpoint(), RETENTION)

    assert "r1" in restored.dormant and "r1" not in restored.runs
    assert restored.lookup("r1") == part.runs["r1"]  # folded on demand, the same state
    assert "r1" in restored.runs and "r1" not in restored.dormant


def test_a_restored_finished_run_leaves_without_ever_being_folded() -> None:
    part = _fold(_finished_run("r1", 1_000))
    restored = restore(0, part.take_checkpoint(), RETENTION)
    _fold(_ticker(1_000 + 2 * HOUR), restored)

    restored.compact()

    assert "r1" not in restored.runs and "r1" not in restored.events
    assert isinstance(restored.lookup("r1"), FinishedRun)
