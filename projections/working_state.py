"""The working state of one ``sluice.runs`` partition, and its checkpoint records (pure).

The decider and the timers hold one :class:`PartitionState` per partition they own: the
full state of every run that may still change, the :class:`FinishedRun` records that fence
late messages about runs that left it (:mod:`orchestrator.domain.retention`), the log clock,
and ``runs_offset``, the offset up to which it folds ``sluice.runs``. It turns into
checkpoint records (key, value) for ``sluice.checkpoints`` and back again; folding
``sluice.runs`` from ``runs_offset`` onto a restored state gives what folding from offset 0
gives (tests/unit/projections/test_working_state.py and the state machine check it).

No I/O here: the Kafka side is in :mod:`projections.checkpoints`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from orchestrator.domain import RunState, RunStatus, StageStatus, evolve
from orchestrator.domain.events import RunEvent
from orchestrator.domain.records import CheckpointPosition, RunCheckpoint
from orchestrator.domain.retention import (
    FinishedRun,
    Retention,
    forgotten,
    leaves_working_state,
    reopenable,
)
from orchestrator.wire import decode_event, decode_record, encode_record
from schemas.errors import SluiceError

__all__ = [
    "CHECKPOINT_FORMAT",
    "POSITION_KEY",
    "CheckpointUnreadable",
    "PartitionState",
    "restore",
]

# Bump when what a checkpoint means changes (not its Avro shape: that is the schema's job).
CHECKPOINT_FORMAT = 1
POSITION_KEY = b"~position"

T = TypeVar("T")
Record = tuple[bytes, bytes | None]  # (key, value); a None value deletes the key


class CheckpointUnreadable(SluiceError):
    """A checkpoint this version cannot read with certainty: rebuild from offset 0."""


@dataclass
class PartitionState:
    """The runs of one partition that may still change, and what fences the rest."""

    partition: int
    retention: Retention = field(default_factory=Retention)
    runs: dict[str, RunState] = field(default_factory=dict)
    events: dict[str, list[bytes]] = field(default_factory=dict)
    finished: dict[str, FinishedRun] = field(default_factory=dict)
    # finished runs restored from a checkpoint but not folded yet: their events are in
    # ``events`` and are folded the first time a message about the run arrives
    dormant: dict[str, FinishedRun] = field(default_factory=dict)
    clock_ms: int = 0
    runs_offset: int = 0
    dirty: set[str] = field(default_factory=set)

    def lookup(self, run_id: str) -> RunState | FinishedRun | None:
        """The run's state; a FinishedRun once it may no longer change; None if unknown."""
        asleep = self.dormant.get(run_id)
        if asleep is not None and reopenable(asleep, self.clock_ms, self.retention):
            self._wake(run_id)
        state = self.runs.get(run_id)
        if state is not None and not leaves_working_state(state, self.clock_ms, self.retention):
            return state
        done = _finished(state) if state is not None else asleep or self.finished.get(run_id)
        if done is None or forgotten(done, self.clock_ms, self.retention):
            return None
        return done

    def fold(self, value: bytes, offset: int) -> None:
        """Fold one message of ``sluice.runs`` read at ``offset``."""
        event = decode_event(value, partition=self.partition, offset=offset)
        self.record(event, value)
        self.runs_offset = offset + 1

    def record(self, event: RunEvent, value: bytes) -> None:
        """Fold one event appended to ``sluice.runs`` (``value`` is its encoding)."""
        self.clock_ms = max(self.clock_ms, event.occurred_at_ms)
        if event.run_id in self.finished:
            return  # the decider never accepts such an event; a reader of an old log skips it
        if event.run_id in self.dormant:
            self._wake(event.run_id)
        state = evolve(self.runs.get(event.run_id), event)
        if state is None:
            return
        self.runs[event.run_id] = state
        self.events.setdefault(event.run_id, []).append(value)
        self.dirty.add(event.run_id)

    def adopt(
        self, run_id: str, state: RunState | None, events: Sequence[RunEvent], values: list[bytes]
    ) -> None:
        """Take the state ``decide`` reached by appending ``events`` (encoded as ``values``)."""
        self.clock_ms = max(self.clock_ms, *(e.occurred_at_ms for e in events))
        if state is None:
            return
        self.runs[run_id] = state
        self.events.setdefault(run_id, []).extend(values)
        self.dirty.add(run_id)

    def _wake(self, run_id: str) -> None:
        del self.dormant[run_id]
        folded: RunState | None = None
        for value in self.events[run_id]:
            folded = evolve(folded, decode_event(value))
        if folded is not None:
            self.runs[run_id] = folded

    def compact(self) -> None:
        """Move runs that may no longer change out, and forget expired fencing records."""
        for run_id, done in list(self.dormant.items()):
            if not reopenable(done, self.clock_ms, self.retention):
                del self.dormant[run_id], self.events[run_id]
                self.finished[run_id] = done
                self.dirty.add(run_id)
        for run_id, state in list(self.runs.items()):
            if leaves_working_state(state, self.clock_ms, self.retention):
                del self.runs[run_id], self.events[run_id]
                self.finished[run_id] = _finished(state)
                self.dirty.add(run_id)
        for run_id, done in list(self.finished.items()):
            if forgotten(done, self.clock_ms, self.retention):
                del self.finished[run_id]
                self.dirty.add(run_id)

    def take_checkpoint(self) -> list[Record]:
        """Records that bring the checkpoint to this state (what changed, then the position)."""
        self.compact()
        records = [(run_id.encode(), self._run_record(run_id)) for run_id in sorted(self.dirty)]
        self.dirty.clear()
        position = CheckpointPosition(
            partition=self.partition,
            runs_offset=self.runs_offset,
            clock_ms=self.clock_ms,
            format=CHECKPOINT_FORMAT,
        )
        return [*records, (POSITION_KEY, encode_record(position))]

    def _run_record(self, run_id: str) -> bytes | None:
        state = self.runs.get(run_id)
        done = self.dormant.get(run_id) or (state and _sleeps(state))
        if done:  # finished: a restore need not fold it until a message about it arrives
            return encode_record(
                RunCheckpoint(
                    run_id=run_id,
                    events=tuple(self.events[run_id]),
                    finished_status=done.status.value,
                    finished_at_ms=done.finished_at_ms,
                )
            )
        if state is not None:
            return encode_record(RunCheckpoint(run_id=run_id, events=tuple(self.events[run_id])))
        done = self.finished.get(run_id)
        if done is None:
            return None
        return encode_record(
            RunCheckpoint(
                run_id=run_id,
                finished_status=done.status.value,
                finished_at_ms=done.finished_at_ms,
            )
        )

    def view(self) -> dict[str, RunState | FinishedRun]:
        """Every run as :meth:`lookup` sees it (what a comparison with a full fold uses)."""
        return {
            run_id: found
            for run_id in (*self.dormant, *self.runs, *self.finished)
            if (found := self.lookup(run_id)) is not None
        }


def _finished(state: RunState) -> FinishedRun:
    return FinishedRun(state.run_id, state.status, state.finished_at_ms or 0)


def _sleeps(state: RunState) -> FinishedRun | None:
    """A finished run whose only way back is a person's request (no manual stage waits)."""
    if not state.status.terminal or any(
        s.status is StageStatus.MANUAL for s in state.stages.values()
    ):
        return None
    return _finished(state)


def restore(
    partition: int, records: Iterable[Record], retention: Retention | None = None
) -> PartitionState:
    """The state a checkpoint holds: the newest value of each key wins, deletions drop it.

    Raises :class:`CheckpointUnreadable` when there is no position, its format is not this
    version's, or a record does not decode: the caller then folds from offset 0.
    """
    newest: dict[bytes, bytes | None] = {}
    for key, value in records:
        newest[key] = value
    position = newest.pop(POSITION_KEY, None)
    if position is None:
        raise CheckpointUnreadable(f"partition {partition}: no checkpoint position")
    where = _decode(position, CheckpointPosition)
    if where.format != CHECKPOINT_FORMAT or where.partition != partition:
        raise CheckpointUnreadable(
            f"partition {partition}: checkpoint format {where.format} of partition "
            f"{where.partition}, this version reads format {CHECKPOINT_FORMAT}"
        )
    state = PartitionState(partition, retention or Retention(), clock_ms=where.clock_ms)
    state.runs_offset = where.runs_offset
    try:
        for run in _runs(newest.values()):
            _restore_run(state, run)
    except (SluiceError, ValueError) as e:
        raise CheckpointUnreadable(f"partition {partition}: a run does not restore: {e}") from e
    return state


def _runs(values: Iterable[bytes | None]) -> Iterator[RunCheckpoint]:
    for value in values:
        if value is not None:
            yield _decode(value, RunCheckpoint)


def _restore_run(state: PartitionState, run: RunCheckpoint) -> None:
    if run.finished_status is not None:
        status = RunStatus(run.finished_status)
        done = FinishedRun(run.run_id, status, run.finished_at_ms or 0)
        if run.events:
            state.dormant[run.run_id] = done
            state.events[run.run_id] = list(run.events)
        else:
            state.finished[run.run_id] = done
        return
    folded: RunState | None = None
    for value in run.events:
        folded = evolve(folded, decode_event(value))
    if folded is not None:
        state.runs[run.run_id] = folded
        state.events[run.run_id] = list(run.events)


def _decode(value: bytes, kind: type[T]) -> T:
    try:
        found = decode_record(value)
    except SluiceError as e:
        raise CheckpointUnreadable(f"a checkpoint record does not decode: {e}") from e
    if not isinstance(found, kind):
        raise CheckpointUnreadable(f"expected {kind.__name__}, found {type(found).__name__}")
    return found
