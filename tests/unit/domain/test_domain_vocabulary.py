"""Durations, sizes, statuses and their transition tables, priority, back-off."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain import (
    RUN_TRANSITIONS,
    STAGE_TRANSITIONS,
    FailureClass,
    InvalidTransition,
    Priority,
    RetryPolicy,
    RunStatus,
    StageStatus,
    TriggerSource,
    backoff_ms,
    classify_exit,
    derive_priority,
    format_duration,
    parse_duration_ms,
    parse_size_bytes,
)
from orchestrator.domain.statuses import check_run_transition, check_stage_transition


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("10m", 600_000), ("2h", 7_200_000), ("30d", 2_592_000_000),
     ("1h30m", 5_400_000), ("1h 30m", 5_400_000), ("250ms", 250), ("1w", 604_800_000),
     (45, 45_000)],
)  # fmt: skip
def test_durations_read_as_people_write_them(text: str | int, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "10", "m", "1.5h", "10 minutes", "-1s", "1y"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ms(text)


@given(st.integers(0, 10**12))
def test_a_formatted_duration_parses_back(ms: int) -> None:
    assert parse_duration_ms(format_duration(ms)) == ms


@pytest.mark.parametrize(
    ("text", "size"),
    [("512Mi", 512 * 1024**2), ("2G", 2_000_000_000), ("2Gi", 2 * 1024**3), ("1.5Ki", 1536),
     ("100", 100), (4096, 4096), ("1k", 1000)],
)  # fmt: skip
def test_sizes_take_decimal_and_binary_units(text: str | int, size: int) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("text", ["", "G", "2GB", "2 gigs", "-1"])
def test_anything_else_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size_bytes(text)


def test_every_status_has_one_row_in_its_table() -> None:
    assert set(RUN_TRANSITIONS) == set(RunStatus)
    assert set(STAGE_TRANSITIONS) == set(StageStatus)


def test_a_stage_never_leaves_success() -> None:
    for target in StageStatus:
        with pytest.raises(InvalidTransition):
            check_stage_transition("X", "a", StageStatus.SUCCESS, target)


def test_an_illegal_run_transition_raises() -> None:
    with pytest.raises(InvalidTransition, match="running -> queued"):
        check_run_transition("X", "r", RunStatus.RUNNING, RunStatus.QUEUED)


def test_a_finished_run_can_only_run_again() -> None:
    for status in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED):
        assert status.terminal and RUN_TRANSITIONS[status] == {RunStatus.RUNNING}


@pytest.mark.parametrize(
    ("source", "branch", "urgent", "override", "expected"),
    [
        (TriggerSource.API, "feature/x", True, None, Priority.CRITICAL),
        (TriggerSource.WEBHOOK, "release/1.2", False, None, Priority.CRITICAL),
        (TriggerSource.WEBHOOK, "main", False, None, Priority.HIGH),
        (TriggerSource.WEBHOOK, "refs/heads/master", False, None, Priority.HIGH),
        (TriggerSource.WEBHOOK, "feature/x", False, None, Priority.NORMAL),
        (TriggerSource.API, "feature/x", False, None, Priority.NORMAL),
        (TriggerSource.WEBHOOK, "feature/x", True, None, Priority.NORMAL),
        (TriggerSource.CRON, "main", False, None, Priority.LOW),
        (TriggerSource.RERUN, "main", False, None, Priority.LOW),
        (TriggerSource.API, "main", True, Priority.LOW, Priority.LOW),
    ],
)
def test_priority_follows_the_trigger_and_the_pipeline_may_override_it(
    source: TriggerSource, branch: str, urgent: bool, override: Priority | None, expected: Priority
) -> None:
    assert derive_priority(source, branch, urgent, override) is expected


def test_back_off_is_the_same_for_the_same_ids_and_spread_for_others() -> None:
    policy = RetryPolicy()
    same = {backoff_ms(policy, 1, "run-1", "test", 2) for _ in range(3)}
    spread = {backoff_ms(policy, 1, f"run-{i}", "test", 2) for i in range(50)}
    assert len(same) == 1 and len(spread) > 40


@given(st.integers(1, 200), st.text(max_size=5), st.integers(1, 50))
def test_back_off_stays_within_twenty_percent_of_the_capped_exponential(
    failures: int, run_id: str, attempt: int
) -> None:
    policy = RetryPolicy(backoff_base_ms=1_000, backoff_factor=2.0, backoff_cap_ms=60_000)
    raw = min(60_000, 1_000 * 2 ** (failures - 1))
    assert raw * 0.8 <= backoff_ms(policy, failures, run_id, "s", attempt) <= raw * 1.2


def test_exit_codes_classify_as_infrastructure_or_the_scripts_fault() -> None:
    assert classify_exit(None) is FailureClass.INFRASTRUCTURE
    assert classify_exit(125) is FailureClass.INFRASTRUCTURE
    assert classify_exit(1, runner_error=True) is FailureClass.INFRASTRUCTURE
    assert classify_exit(2) is FailureClass.DETERMINISTIC
