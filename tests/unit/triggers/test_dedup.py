"""The de-duplication rule: one run per (pipeline, branch, commit) within 60 s of event time."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.records import RunRequested
from orchestrator.domain.statuses import TriggerSource
from projections.dedup import (
    DEDUP_WINDOW_MS,
    FORGET_AFTER_MS,
    Create,
    DedupEntry,
    Duplicate,
    dedup,
    dedup_key,
    forgettable,
)


def request(run_id: str = "run-1", *, at_ms: int = 1_000_000, branch: str = "main") -> RunRequested:
    return RunRequested(
        request_id=f"req-{run_id}-{at_ms}",
        run_id=run_id,
        pipeline_id="backend",
        branch=branch,
        commit_sha="a" * 40,
        source=TriggerSource.API,
        requested_by="ada",
        occurred_at_ms=at_ms,
    )


def test_the_key_is_pipeline_branch_and_commit() -> None:
    assert dedup_key(request(branch="release/1.2")) == f"backend|release/1.2|{'a' * 40}"


def test_a_first_request_creates_its_own_run() -> None:
    assert dedup(None, request("run-1", at_ms=5)) == Create(DedupEntry("run-1", 5))


def test_a_repeat_within_the_window_names_the_existing_run() -> None:
    state = DedupEntry("run-1", 1_000_000)
    assert dedup(state, request("run-2", at_ms=1_000_000 + 59_999)) == Duplicate("run-1")


def test_a_repeat_after_the_window_creates_a_new_run() -> None:
    state = DedupEntry("run-1", 1_000_000)
    later = 1_000_000 + 61_000
    assert dedup(state, request("run-2", at_ms=later)) == Create(DedupEntry("run-2", later))


def test_the_window_is_exactly_sixty_seconds() -> None:
    state = DedupEntry("run-1", 0)
    assert isinstance(dedup(state, request("run-2", at_ms=DEDUP_WINDOW_MS)), Create)


def test_a_redelivered_request_creates_its_run_again_with_the_same_id() -> None:
    state = DedupEntry("run-1", 1_000)
    assert dedup(state, request("run-1", at_ms=1_000)) == Create(state)


def test_an_old_straggler_creates_a_run_but_the_newer_one_is_remembered() -> None:
    state = DedupEntry("run-new", 500_000)
    outcome = dedup(state, request("run-old", at_ms=100_000))
    assert outcome == Create(state)


@given(
    first=st.integers(min_value=0, max_value=10**13),
    gap=st.integers(min_value=-(10**9), max_value=10**9),
)
def test_a_repeat_is_a_duplicate_exactly_when_closer_than_the_window(first: int, gap: int) -> None:
    outcome = dedup(DedupEntry("run-1", first), request("run-2", at_ms=first + gap))
    assert isinstance(outcome, Duplicate) == (abs(gap) < DEDUP_WINDOW_MS)


@given(times=st.lists(st.integers(min_value=0, max_value=600_000), min_size=1, max_size=30))
def test_every_answer_names_the_run_remembered_or_its_own(times: list[int]) -> None:
    state: DedupEntry | None = None
    for i, at_ms in enumerate(sorted(times)):
        outcome = dedup(state, request(f"run-{i}", at_ms=at_ms))
        if isinstance(outcome, Duplicate):
            assert state is not None
            assert outcome.run_id == state.run_id
            assert at_ms - state.requested_at_ms < DEDUP_WINDOW_MS
        else:
            assert outcome.remember == DedupEntry(f"run-{i}", at_ms)
            state = outcome.remember


@given(times=st.lists(st.integers(min_value=0, max_value=10**7), min_size=2, max_size=30))
def test_two_runs_of_one_key_are_never_created_within_the_window(times: list[int]) -> None:
    state: DedupEntry | None = None
    created: list[int] = []
    for i, at_ms in enumerate(sorted(times)):
        outcome = dedup(state, request(f"run-{i}", at_ms=at_ms))
        if isinstance(outcome, Create):
            created.append(at_ms)
            state = outcome.remember
    assert all(b - a >= DEDUP_WINDOW_MS for a, b in itertools.pairwise(created))


def test_a_key_is_kept_ten_minutes_of_event_time() -> None:
    entry = DedupEntry("run-1", 0)
    assert (forgettable(entry, FORGET_AFTER_MS), forgettable(entry, FORGET_AFTER_MS + 1)) == (
        False,
        True,
    )
