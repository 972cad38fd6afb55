"""The waterfall: one bar per stage attempt, waiting then running, from event times."""

from __future__ import annotations

from orchestrator.ui.waterfall import Bar, bars


def test_an_attempt_waits_from_queued_to_claimed_and_runs_until_it_ends() -> None:
    events = [
        ("StageQueued", "build", 1, 100),
        ("StageClaimed", "build", 1, 250),
        ("StageHeartbeat", "build", 1, 300),
        ("StageSucceeded", "build", 1, 900),
    ]
    assert bars(events) == [Bar("build", 1, 100, 250, 900, "success")]


def test_each_attempt_gets_its_own_bar_and_an_unfinished_one_stays_open() -> None:
    events = [
        ("StageQueued", "test", 1, 0),
        ("StageClaimed", "test", 1, 10),
        ("StageFailed", "test", 1, 20),
        ("StageQueued", "test", 2, 30),
        ("StageQueued", "lint", 1, 35),
    ]
    assert bars(events) == [
        Bar("test", 1, 0, 10, 20, "failed"),
        Bar("test", 2, 30, None, None, "waiting"),
        Bar("lint", 1, 35, None, None, "waiting"),
    ]


def test_events_of_an_attempt_never_queued_are_ignored() -> None:
    assert bars([("StageClaimed", "x", 1, 5), ("StageSucceeded", "x", 1, 9)]) == []
