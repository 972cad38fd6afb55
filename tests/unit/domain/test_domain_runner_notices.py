"""Which runner the decider tells of which decided event (``sluice.runner-notices``)."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.domain import Decision
from orchestrator.domain.runner_notices import runner_notices
from tests.unit.domain.domain_helpers import Driver, diamond


def _told(driver: Driver, act: Callable[[], Decision]) -> list[tuple[str, str]]:
    """(runner, event name) for each notice of the decision ``act`` makes."""
    before = driver.state
    events = act().events
    return [(runner, type(events[i]).__name__) for runner, i in runner_notices(before, events)]


def test_an_accepted_claim_is_told_to_the_runner_that_claimed() -> None:
    driver = Driver(diamond())
    assert _told(driver, lambda: driver.claim("build", runner="w7")) == [("w7", "StageClaimed")]


def test_a_refused_claim_is_told_to_nobody() -> None:
    driver = Driver(diamond())
    driver.claim("build", runner="w1")
    assert _told(driver, lambda: driver.claim("build", runner="w2")) == []  # it is w1's


def test_an_expired_lease_is_told_to_the_runner_that_held_it() -> None:
    driver = Driver(diamond())
    driver.claim("build", runner="w3")
    assert _told(driver, lambda: driver.expire("build")) == [("w3", "StageLeaseExpired")]


def test_a_cancelled_run_tells_each_runner_of_its_own_stages_only() -> None:
    driver = Driver(diamond())
    driver.run_stage("build")
    driver.claim("lint", runner="w1")
    driver.claim("test", runner="w2")
    assert sorted(_told(driver, driver.cancel)) == [
        ("w1", "StageCancelled"),
        ("w2", "StageCancelled"),
    ]


def test_a_stage_still_waiting_for_a_runner_is_cancelled_without_telling_anyone() -> None:
    driver = Driver(diamond())
    assert _told(driver, driver.cancel) == []


def test_heartbeats_and_outcomes_are_told_to_nobody() -> None:
    driver = Driver(diamond())
    driver.claim("build", runner="w1")
    assert _told(driver, lambda: driver.heartbeat("build", deadline=driver.now + 60_000)) == []
    assert _told(driver, lambda: driver.succeed("build")) == []
