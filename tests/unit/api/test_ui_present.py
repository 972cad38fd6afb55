"""What the pages compute from rows: durations, the first error line, the log's lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.ui.loglines import search, split
from orchestrator.ui.present import chosen_stage, duration, first_error, span


def test_durations_read_as_seconds_minutes_or_hours() -> None:
    assert duration(5.24) == "5.2s"
    assert duration(184) == "3m 04s"
    assert duration(3720) == "1h 02m"
    assert duration(None) == "—"


def test_a_span_still_going_runs_to_now() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert span(start, None, start + timedelta(seconds=90)) == "1m 30s"
    assert span(None, None, start) == "—"


def test_the_first_error_line_is_found_through_colours() -> None:
    lines = ["collecting", "\x1b[31mERROR: test_x failed\x1b[0m", "error again"]
    assert first_error(lines) == (2, "ERROR: test_x failed")


def test_without_an_error_word_the_last_non_empty_line_is_shown() -> None:
    assert first_error(["make: ok", "exit status 2", ""]) == (2, "exit status 2")
    assert first_error([]) is None


def _row(name: str, status: str, started: bool = False) -> dict[str, object]:
    return {"name": name, "status": status, "started_at": 1 if started else None}


def test_the_log_opens_on_the_asked_then_failed_then_running_stage() -> None:
    stages = [_row("a", "success", True), _row("b", "running", True), _row("c", "failed", True)]
    assert chosen_stage(stages, "a") == stages[0]
    assert chosen_stage(stages, None) == stages[2]
    assert chosen_stage(stages[:2], "nope") == stages[1]
    assert chosen_stage([_row("x", "pending")], None) == {
        "name": "x",
        "status": "pending",
        "started_at": None,
    }


@given(st.lists(st.text(alphabet="ab \x1b[31m", max_size=8), max_size=20))
def test_split_gives_back_the_lines_a_newline_terminated_text_was_made_of(lines: list[str]) -> None:
    text = "".join(f"{line}\n" for line in lines)
    assert split(text) == lines


def test_search_ignores_case_and_colours_and_counts_beyond_its_limit() -> None:
    lines = ["x", "\x1b[1mNeedle\x1b[0m", "needle", "hay"]
    assert search(lines, "needle", 1) == ([2], 2)
