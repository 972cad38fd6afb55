"""Which period holds: an injected clock crossing ``0 8 * * mon-fri`` in Europe/Paris."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from orchestrator.domain.pool_config import parse_pool_config
from orchestrator.domain.pool_policy import PoolInputs, PoolMemory, RunnerPhase, RunnerView, plan
from orchestrator.domain.pool_schedule import active_period

PARIS = ZoneInfo("Europe/Paris")
CONFIG = parse_pool_config(
    """\
min_runners: 1
max_runners: 10
periods:
  - name: base
    idle_slots: 0
  - name: office-hours
    start: "0 8 * * mon-fri"
    timezone: Europe/Paris
    duration: 10h
    idle_slots: 4
"""
)


def _ms(*args: *tuple[int, int, int, int, int, int]) -> int:
    return int(datetime(*args, tzinfo=PARIS).timestamp() * 1000)


def test_the_office_period_begins_at_eight_in_paris_on_a_monday() -> None:
    before, at = _ms(2026, 12, 7, 7, 59, 59), _ms(2026, 12, 7, 8, 0, 0)

    assert active_period(CONFIG.periods, before).name == "base"
    assert active_period(CONFIG.periods, at).name == "office-hours"


def test_the_office_period_ends_after_its_duration() -> None:
    assert active_period(CONFIG.periods, _ms(2026, 12, 7, 17, 59, 59)).name == "office-hours"
    assert active_period(CONFIG.periods, _ms(2026, 12, 7, 18, 0, 0)).name == "base"


def test_a_saturday_morning_keeps_the_base_period() -> None:
    assert active_period(CONFIG.periods, _ms(2026, 12, 12, 9, 0, 0)).name == "base"


def test_eight_in_paris_is_local_time_across_the_summer_time_change() -> None:
    # 29 March 2027 is the Monday after clocks go forward: 08:00 in Paris is 06:00 UTC
    assert active_period(CONFIG.periods, _ms(2027, 3, 29, 7, 59, 0)).name == "base"
    assert active_period(CONFIG.periods, _ms(2027, 3, 29, 8, 0, 0)).name == "office-hours"


def test_crossing_eight_raises_the_floor_of_idle_slots_at_once() -> None:
    runner = RunnerView(
        runner_id="r1",
        phase=RunnerPhase.READY,
        slots=1,
        started_at_ms=_ms(2026, 12, 7, 7, 0, 0),
    )
    memory = PoolMemory()
    seen = []
    for second in range(-3, 3):  # an injected clock ticking across 08:00:00
        now = _ms(2026, 12, 7, 8, 0, 0) + second * 1000
        inputs = PoolInputs(now_ms=now, runners=(_seen(runner, now),))
        decision, memory = plan(CONFIG, memory, inputs)
        seen.append((second, decision.direction.value, decision.to_runners))

    assert seen[:3] == [(-3, "hold", 1), (-2, "hold", 1), (-1, "hold", 1)]
    assert seen[3] == (0, "up", 4)  # nothing busy or queued: the floor of 4 idle slots


def _seen(runner: RunnerView, now: int) -> RunnerView:
    return RunnerView(
        runner_id=runner.runner_id,
        phase=runner.phase,
        slots=runner.slots,
        started_at_ms=runner.started_at_ms,
        last_seen_ms=now,
        idle_since_ms=runner.started_at_ms,
    )
