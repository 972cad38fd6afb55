"""Which runner the decider tells of which decided event (``sluice.runner-notices``)."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.domain import Decision
from orchestrator.domain.events import StageClaimed, StageHeartbeat
from orchestrator.domain.runner_notices import claim_refused, runner_notices
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


def test_a_refused_claim_is_answered_to_its_runner_with_the_deciders_reason() -> None:
    driver = Driver(diamond())
    driver.claim("build", runner="w1")
    decision = driver.claim("build", runner="w2")
    claim = StageClaimed(
        run_id=driver.run_id,
        stage="build",
        attempt=1,
        occurred_at_ms=driver.now,
        runner_id="w2",
        lease_deadline_ms=driver.now + 60_000,
    )
    refusal = claim_refused(claim, decision.ignored_reason)
    assert refusal is not None and decision.ignored_reason is not None
    assert (refusal.runner_id, refusal.stage, refusal.attempt) == ("w2", "build", 1)
    assert refusal.reason == decision.ignored_reason


def test_an_accepted_claim_gets_no_refusal() -> None:
    driver = Driver(diamond())
    accepted = driver.claim("build", runner="w1")
    assert claim_refused(accepted.events[0], accepted.ignored_reason) is None


def test_an_ignored_message_other_than_a_claim_gets_no_refusal() -> None:
    heartbeat = StageHeartbeat(
        run_id="run-1",
        stage="build",
        attempt=1,
        occurred_at_ms=1,
        runner_id="w1",
        lease_deadline_ms=60_001,
    )
    assert claim_refused(heartbeat, "the attempt is not running") is None


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
