"""Which stored rows the read model loads before it folds a batch (``rows_to_load``)."""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.events import RunEvent
from orchestrator.wire import from_record
from projections.projector import rows_to_load
from projections.read_model import ReadModel, apply
from schemas.examples import example_of
from tests.integration.projection.scenarios import (
    cancelled,
    dead_lettered,
    diamond_success,
    failing_unit,
    flaky_then_retried_by_hand,
    manual_deploy,
)

_HISTORIES: tuple[Callable[[str], list[RunEvent]], ...] = (
    diamond_success,
    failing_unit,
    cancelled,
    flaky_then_retried_by_hand,
    dead_lettered,
    manual_deploy,
)
_Stored = dict[str, Any]


def test_a_batch_of_runs_created_in_it_loads_nothing() -> None:
    batch = diamond_success("run-a")[:2] + failing_unit("run-b")[:2]
    assert rows_to_load(batch) == ([], [])


def test_a_run_created_in_an_earlier_batch_is_loaded() -> None:
    later = diamond_success("run-a")[2:4] + diamond_success("run-b")[:2]
    assert rows_to_load(later) == (["run-a"], [])


def test_a_pipeline_record_loads_its_pipeline() -> None:
    registered = from_record("PipelineRegistered", example_of("PipelineRegistered"))
    assert rows_to_load([registered]) == ([], [registered.pipeline_id])


@given(
    histories=st.lists(st.sampled_from(_HISTORIES), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
    cuts=st.lists(st.integers(1, 60), max_size=6),
)
def test_loading_only_those_rows_folds_every_cut_into_batches_to_the_same_tables(
    histories: list[Callable[[str], list[RunEvent]]], seed: int, cuts: list[int]
) -> None:
    log = _interleaved([h(f"run-{i}") for i, h in enumerate(histories)], random.Random(seed))
    batches = _cut(log, cuts)
    every_run = _fold(batches, lambda batch: sorted({e.run_id for e in batch}))
    lean = _fold(batches, lambda batch: rows_to_load(batch)[0])
    assert lean == every_run


def _interleaved(runs: list[list[RunEvent]], rng: random.Random) -> list[RunEvent]:
    """The runs' events in one log, each run's in its own order (as on its partition)."""
    pending = [list(events) for events in runs]
    log: list[RunEvent] = []
    while pending:
        events = rng.choice(pending)
        log.append(events.pop(0))
        if not events:
            pending.remove(events)
    return log


def _cut(log: list[RunEvent], cuts: list[int]) -> list[list[RunEvent]]:
    points = sorted({c for c in cuts if c < len(log)})
    bounds = [0, *points, len(log)]
    return [log[a:b] for a, b in itertools.pairwise(bounds)]


def _fold(
    batches: list[list[RunEvent]], loaded: Callable[[Sequence[RunEvent]], list[str]]
) -> tuple[_Stored, _Stored]:
    """The tables after each batch is folded into the ``loaded`` runs' stored rows and its
    changed rows stored (as the projector does, in memory)."""
    runs: _Stored = {}
    stages: _Stored = {}
    for batch in batches:
        model = ReadModel()
        for run_id in loaded(batch):
            if run_id in runs:
                model.runs[run_id] = copy.deepcopy(runs[run_id])
                model.stages[run_id] = copy.deepcopy(stages.get(run_id, {}))
        for event in batch:
            apply(model, event)
        for run in model.changed_runs():
            runs[run.run_id] = copy.deepcopy(run)
        for stage in model.changed_stages():
            stages.setdefault(stage.run_id, {})[stage.name] = copy.deepcopy(stage)
    return runs, stages
