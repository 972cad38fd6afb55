"""How fast the pure decider decides: 1,000 concurrent runs of a 6-stage DAG, in memory.

Every run is created, then each queued job is claimed and succeeds, the runs interleaved
wave by wave as a busy decider would see them (13 decisions per run). The message list is
recorded once and then timed from empty state, beside the raw floor measured in the same
run: a loop that does the least any decider must — build as many event dataclasses as
``decide`` emitted and update a dict of run states — over the same messages.

    .venv/bin/python bench/decide.py
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.domain import (
    Priority,
    RunCreated,
    RunEvent,
    RunState,
    StageClaimed,
    StageQueued,
    StageSpec,
    StageSucceeded,
    TriggerSource,
    decide,
)
from tests.support.event_ids import StageEventIds

RUNS = 1_000
ROUNDS = 5
PEAK_DECISIONS_PER_S = 3.5 * 13  # the design's peak: ≈3.5 runs/s of a 6-stage DAG


def pipeline() -> tuple[StageSpec, ...]:
    """checkout → build, lint; build → unit, integration; everything → package."""
    shape = {
        "checkout": (),
        "build": ("checkout",),
        "lint": ("checkout",),
        "unit": ("build",),
        "integration": ("build",),
        "package": ("unit", "integration", "lint"),
    }
    return tuple(
        StageSpec(name=name, script=(f"make {name}",), needs=needs) for name, needs in shape.items()
    )


def created(run_id: str, stages: tuple[StageSpec, ...]) -> RunCreated:
    return RunCreated(
        run_id=run_id,
        occurred_at_ms=1,
        pipeline_id="bench",
        pipeline_name="bench",
        branch="main",
        commit_sha="c0ffee",
        repo_url="file:///bench.git",
        source=TriggerSource.WEBHOOK,
        priority=Priority.HIGH,
        dedup_key=f"bench|main|{run_id}",
        stages=stages,
    )


def record_messages() -> tuple[list[RunEvent], list[int]]:
    """Drive every run to success once; keep the inbox messages and events per decision."""
    states: dict[str, RunState | None] = {}
    messages: list[RunEvent] = []
    emitted: list[int] = []
    # a fresh snapshot per run, as each RunCreated decoded off the inbox would carry
    work: deque[RunEvent] = deque(created(f"run-{i:04d}", pipeline()) for i in range(RUNS))
    now = 1
    while work:
        message = work.popleft()
        decision = decide(states.get(message.run_id), message)
        messages.append(message)
        emitted.append(len(decision.events))
        states[message.run_id] = decision.state
        now += 1
        for event in decision.events:
            work.extend(_runner_replies(event, now))
    return messages, emitted


def _runner_replies(event: RunEvent, now: int) -> list[RunEvent]:
    if not isinstance(event, StageQueued | StageClaimed):
        return []
    ids: StageEventIds = {
        "run_id": event.run_id,
        "occurred_at_ms": now,
        "stage": event.stage,
        "attempt": event.attempt,
    }
    if isinstance(event, StageQueued):
        return [StageClaimed(**ids, runner_id="w", lease_deadline_ms=now + event.lease_ms)]
    return [StageSucceeded(**ids, runner_id="w", duration_ms=1)]


def time_decide(messages: list[RunEvent]) -> float:
    states: dict[str, RunState | None] = {}
    start = time.perf_counter()
    for message in messages:
        states[message.run_id] = decide(states.get(message.run_id), message).state
    return time.perf_counter() - start


def time_floor(messages: list[RunEvent], emitted: list[int]) -> float:
    states: dict[str, object] = {}
    start = time.perf_counter()
    for message, count in zip(messages, emitted, strict=True):
        run_id = message.run_id
        for _ in range(count):
            event = StageQueued(
                run_id=run_id,
                occurred_at_ms=1,
                stage="s",
                attempt=1,
                priority=Priority.HIGH,
                lease_ms=1,
            )
        states[run_id] = event
    return time.perf_counter() - start


def main() -> None:
    messages, emitted = record_messages()
    decide_times, floor_times = [], []
    gc.collect()
    for _ in range(ROUNDS):
        decide_times.append(time_decide(messages))
        floor_times.append(time_floor(messages, emitted))
    decisions = len(messages)
    best, floor = min(decide_times), min(floor_times)
    rate, floor_rate = decisions / best, decisions / floor
    print(
        f"decide: {RUNS} concurrent runs x 6 stages, {decisions} decisions, {sum(emitted)} events"
    )
    print(
        f"  decide   {rate:>12,.0f} decisions/s  (best of {ROUNDS}; "
        f"median {decisions / statistics.median(decide_times):,.0f}; "
        f"{best / decisions * 1e6:.1f} us each)"
    )
    print(
        f"  floor    {floor_rate:>12,.0f} decisions/s  "
        f"(same messages: build the same number of event dataclasses + a dict update)"
    )
    print(f"  ratio    {floor_rate / rate:>12.1f} x the floor")
    print(f"  headroom {rate / PEAK_DECISIONS_PER_S:>12,.0f} x the design's peak load")


if __name__ == "__main__":
    main()
