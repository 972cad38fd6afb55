"""The de-duplication rule of the trigger processor, as a pure function.

Two requests for the same (pipeline, branch, commit, and tag or merge request) less than
60 s apart are one run: the second gets the first one's ``run_id`` back and creates nothing.
The window is measured on the requests' ``occurred_at_ms`` (set by the edge that accepted
them), never on the clock of the processor, so a replay or a restarted processor decides
exactly as the first did.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain.records import RunRequested
from orchestrator.domain.refs import ref_of, trigger_key

__all__ = [
    "DEDUP_WINDOW_MS",
    "FORGET_AFTER_MS",
    "Create",
    "DedupEntry",
    "Duplicate",
    "Outcome",
    "dedup",
    "dedup_key",
    "forgettable",
]

DEDUP_WINDOW_MS = 60_000
# How long a key is kept at all: the window plus room for edges whose clocks disagree.
FORGET_AFTER_MS = 10 * 60_000


@dataclass(frozen=True, slots=True)
class DedupEntry:
    """The run a dedup key last created, and when the request that created it was made."""

    run_id: str
    requested_at_ms: int


@dataclass(frozen=True, slots=True)
class Create:
    """Create (or, for a redelivered request, create again) the request's run.

    ``remember`` is what the dedup table holds for the key afterwards.
    """

    remember: DedupEntry


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The request repeats the run ``run_id``; answer with ``RunDeduplicated``."""

    run_id: str


Outcome = Create | Duplicate


def dedup_key(request: RunRequested) -> str:
    """``pipeline|branch|sha`` (plus tag or merge request): the key of ``sluice.triggers``
    and of the dedup table."""
    return trigger_key(request.pipeline_id, request.branch, request.commit_sha, ref_of(request))


def dedup(
    state: DedupEntry | None, request: RunRequested, *, window_ms: int = DEDUP_WINDOW_MS
) -> Outcome:
    """What to do with ``request``, given what the table holds for its dedup key."""
    mine = DedupEntry(request.run_id, request.occurred_at_ms)
    if state is None:
        return Create(mine)
    if state.run_id == request.run_id:
        # At-least-once delivery: the request that made this run, seen again. Same answer.
        return Create(state)
    if abs(request.occurred_at_ms - state.requested_at_ms) < window_ms:
        return Duplicate(state.run_id)
    # Outside the window: a new run. A straggler older than the remembered run must not
    # make the table forget the newer one.
    newer = mine if request.occurred_at_ms >= state.requested_at_ms else state
    return Create(newer)


def forgettable(entry: DedupEntry, now_ms: int, *, keep_ms: int = FORGET_AFTER_MS) -> bool:
    """Whether ``entry`` is so old, at event time ``now_ms``, that no repeat can match it."""
    return now_ms - entry.requested_at_ms > keep_ms
