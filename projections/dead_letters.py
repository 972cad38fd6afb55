"""The dead letters: ``sluice.jobs.dead`` and the events of ``sluice.runs`` that concern them.

One row per dead-lettered stage attempt in ``dead_letters`` (its id is
:func:`~orchestrator.domain.dead_letter_id`), created by whichever of ``DeadLetter`` (on
``sluice.jobs.dead``: the job, hence the pipeline) and ``StageDeadLettered`` (on
``sluice.runs``) is read first, completed by the other. Its ``status`` is ``dead`` until
the decider accepts a person's ``StageRedriveRequested`` (``redriven``) or
``DeadLetterDiscarded`` (``discarded``), with who and why (only once the row's own
``StageDeadLettered`` was folded, which precedes them on ``sluice.runs``).
``dead_letter_attempts`` keeps each infrastructure failure (``StageFailed`` of that class,
``StageLeaseExpired``) so a dead letter shows the attempts that led to it. The two topics
are read in any interleaving: every write sets its own columns only, so a replay gives the
same rows (tests/integration/projection/test_dead_letters_projection.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.domain import (
    DeadLetter,
    DeadLetterDiscarded,
    FailureClass,
    StageDeadLettered,
    StageFailed,
    StageLeaseExpired,
    StageRedriveRequested,
    dead_letter_id,
)
from projections.read_model import ms_to_time
from projections.runner import Event, Projection
from schemas.pg import Conn
from schemas.topics import DEAD_LETTERS as DEAD_TOPIC
from schemas.topics import RUNS

__all__ = ["DEAD_LETTERS", "write_batch"]

_UPSERT = """
INSERT INTO dead_letters (dead_letter_id, run_id, stage, attempt, pipeline_id, reason,
                          infrastructure_failures, dead_at, on_runs)
VALUES (%(id)s, %(run_id)s, %(stage)s, %(attempt)s, %(pipeline_id)s, %(reason)s,
        %(failures)s, %(at)s, %(on_runs)s)
ON CONFLICT (dead_letter_id) DO UPDATE
SET pipeline_id = coalesce(EXCLUDED.pipeline_id, dead_letters.pipeline_id),
    on_runs = dead_letters.on_runs OR EXCLUDED.on_runs
"""
# A redrive or discard follows its StageDeadLettered on the run's partition of sluice.runs,
# so it resolves only rows that one has reached: a later dead letter of the same stage read
# early from sluice.jobs.dead stays dead, whatever the interleaving of the two topics.
_RESOLVE = """
UPDATE dead_letters SET status = %(status)s, resolved_by = %(by)s,
       resolved_reason = %(reason)s, resolved_at = %(at)s
WHERE run_id = %(run_id)s AND stage = %(stage)s AND status = 'dead' AND on_runs
"""
_ATTEMPT = """
INSERT INTO dead_letter_attempts (run_id, stage, attempt, reason, runner_id, exit_code,
                                  failed_at)
VALUES (%(run_id)s, %(stage)s, %(attempt)s, %(reason)s, %(runner_id)s, %(exit_code)s, %(at)s)
ON CONFLICT DO NOTHING
"""


def write_batch(conn: Conn, events: Sequence[Event]) -> None:
    """Write what each event means for the dead letters (the runner's transaction is open)."""
    for event in events:
        write_one(conn, event.record)


def write_one(conn: Conn, record: Any) -> None:
    """One record's rows; records of no concern to dead letters change nothing."""
    match record:
        case DeadLetter():
            conn.execute(_UPSERT, _dead(record.job.run_id, record.job.stage.name, record))
        case StageDeadLettered():
            conn.execute(_UPSERT, _dead(record.run_id, record.stage, record))
        case StageRedriveRequested():
            conn.execute(_RESOLVE, _resolved(record, "redriven", None))
        case DeadLetterDiscarded():
            conn.execute(_RESOLVE, _resolved(record, "discarded", record.reason))
        case StageFailed() if record.failure_class is FailureClass.INFRASTRUCTURE:
            conn.execute(_ATTEMPT, _attempt(record, record.reason, record.runner_id))
        case StageLeaseExpired():
            reason = f"the lease of attempt {record.attempt} expired"
            conn.execute(_ATTEMPT, _attempt(record, reason, record.runner_id))
        case _:
            pass


def _dead(run_id: str, stage: str, record: DeadLetter | StageDeadLettered) -> dict[str, Any]:
    attempt = record.job.attempt if isinstance(record, DeadLetter) else record.attempt
    return {
        "id": dead_letter_id(run_id, stage, attempt),
        "run_id": run_id,
        "stage": stage,
        "attempt": attempt,
        "pipeline_id": record.job.pipeline_id if isinstance(record, DeadLetter) else None,
        "reason": record.reason,
        "failures": record.infrastructure_failures,
        "at": ms_to_time(record.occurred_at_ms),
        "on_runs": isinstance(record, StageDeadLettered),
    }


def _resolved(
    record: StageRedriveRequested | DeadLetterDiscarded, status: str, reason: str | None
) -> dict[str, Any]:
    return {
        "status": status,
        "by": record.requested_by,
        "reason": reason,
        "at": ms_to_time(record.occurred_at_ms),
        "run_id": record.run_id,
        "stage": record.stage,
    }


def _attempt(record: StageFailed | StageLeaseExpired, reason: str, runner: str | None) -> Any:
    return {
        "run_id": record.run_id,
        "stage": record.stage,
        "attempt": record.attempt,
        "reason": reason,
        "runner_id": runner,
        "exit_code": getattr(record, "exit_code", None),
        "at": ms_to_time(record.occurred_at_ms),
    }


DEAD_LETTERS = Projection(
    name="dead_letters",
    topics=(DEAD_TOPIC.name, RUNS.name),
    handler=write_batch,
    tables=("dead_letters", "dead_letter_attempts"),
    # what write_one matches: the rest of sluice.runs is skipped on its header, undecoded
    records=frozenset(
        t.__name__
        for t in (
            DeadLetter,
            StageDeadLettered,
            StageRedriveRequested,
            DeadLetterDiscarded,
            StageFailed,
            StageLeaseExpired,
        )
    ),
)
