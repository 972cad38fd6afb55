"""Recorded runs replayed through ``decide`` on every test run: any drift is a failure.

If a change of behaviour is intended, regenerate with
``python -m tests.unit.domain.golden_logs`` and let the reviewer read the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.domain import RunEvent, RunState, decide, fold
from tests.unit.domain.golden_logs import GOLDEN, digest, load, replay

FILES = sorted(GOLDEN.glob("*.json"))


def test_there_are_golden_logs() -> None:
    assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_recorded_run_replays_to_its_recorded_outcome(path: Path) -> None:
    messages, expected = load(path)
    assert replay(messages) == expected


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_accepted_events_of_a_recorded_run_fold_to_its_final_state(path: Path) -> None:
    messages, expected = load(path)
    state: RunState | None = None
    log: list[RunEvent] = []
    for message in messages:
        decision = decide(state, message)
        log.extend(decision.events)
        state = decision.state
    assert digest(fold(log)) == expected["final_state"]
