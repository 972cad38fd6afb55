"""The pure read model: the statuses it keeps are the domain's, event after event."""

from __future__ import annotations

import pytest

from orchestrator.domain import evolve
from orchestrator.domain.state import RunState
from orchestrator.wire import decode_record, encode_event
from projections.read_model import ReadModel, apply
from tests.integration.projection.scenarios import SCENARIOS


def _apply(model: ReadModel, event: object) -> None:
    apply(model, decode_record(encode_event(event)))  # as the runner hands it over


def _statuses(model: ReadModel, run_id: str) -> tuple[str, dict[str, str]]:
    stages = {name: row.status for name, row in model.stages[run_id].items()}
    return model.runs[run_id].status, stages


def _domain_statuses(state: RunState) -> tuple[str, dict[str, str]]:
    return str(state.status), {name: str(s.status) for name, s in state.stages.items()}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_statuses_after_every_event_equal_the_fold_of_evolve(scenario: str) -> None:
    model, state = ReadModel(), None
    for event in SCENARIOS[scenario]("run-1"):
        _apply(model, event)
        state = evolve(state, event)
        assert state is not None
        assert _statuses(model, "run-1") == _domain_statuses(state), event


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_applying_every_event_twice_gives_the_same_rows(scenario: str) -> None:
    once, twice = ReadModel(), ReadModel()
    for event in SCENARIOS[scenario]("run-1"):
        _apply(once, event)
        _apply(twice, event)
        _apply(twice, event)
    assert (twice.runs, twice.stages, twice.artifacts) == (once.runs, once.stages, once.artifacts)


def test_a_retried_stage_brings_back_the_dependents_it_had_skipped() -> None:
    model = ReadModel()
    events = SCENARIOS["flaky_then_retried_by_hand"]("run-1")
    retry = next(i for i, e in enumerate(events) if type(e).__name__ == "StageRetryRequested")
    for event in events[: retry + 1]:
        _apply(model, event)
    assert model.stages["run-1"]["integration"].status == "pending"
    assert (model.runs["run-1"].status, model.runs["run-1"].finished_at) == ("running", None)
