"""The pure read model: the statuses it keeps are the domain's, event after event."""

from __future__ import annotations

import pytest

from orchestrator.domain import ArtifactExpired, ArtifactStored, evolve
from orchestrator.domain.state import RunState
from orchestrator.wire import decode_record, encode_event
from projections.read_model import ReadModel, apply, ms_to_time
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


def _stored_then_expired() -> tuple[list[object], ArtifactExpired]:
    events = SCENARIOS["diamond_success"]("run-1")
    stored = next(e for e in events if isinstance(e, ArtifactStored))
    expired = ArtifactExpired(
        run_id="run-1",
        stage=stored.stage,
        attempt=stored.attempt,
        artifact_id=stored.artifact_id,
        occurred_at_ms=stored.occurred_at_ms + 1000,
    )
    return list(events), expired


def test_an_artifact_expired_in_the_batch_that_stored_it_keeps_its_row_marked_expired() -> None:
    events, expired = _stored_then_expired()
    model = ReadModel()
    for event in [*events, expired]:
        _apply(model, event)
    row = model.artifacts[expired.artifact_id]
    assert row.expired_at == ms_to_time(expired.occurred_at_ms)


def test_an_artifact_expired_in_a_later_batch_is_marked_for_an_update() -> None:
    _, expired = _stored_then_expired()
    later = ReadModel()
    _apply(later, expired)
    assert later.expired_artifacts == {expired.artifact_id: ms_to_time(expired.occurred_at_ms)}
