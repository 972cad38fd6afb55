"""The rolling planner under every order of health checks, drains and clock ticks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.model import DeploySpec
from orchestrator.domain.rollout import (
    Finish,
    Health,
    Instance,
    Phase,
    Rollout,
    Start,
    apply,
    in_traffic_capacity,
    observe_drained,
    observe_health,
    plan,
    start_rollout,
)

V1, V2 = "app:v1", "app:v2"


def running(n: int) -> tuple[Instance, ...]:
    return tuple(
        Instance(name=f"old-{k}", image=V1, health=Health.HEALTHY, in_traffic=True)
        for k in range(n)
    )


def spec(replicas: int, surge: int, unavailable: int) -> DeploySpec:
    return DeploySpec(
        environment="e",
        image=V2,
        replicas=replicas,
        max_surge=surge,
        max_unavailable=unavailable,
        healthy_deadline_ms=10_000,
    )


shapes = st.tuples(st.integers(1, 5), st.integers(0, 2), st.integers(0, 2)).filter(
    lambda t: (t[1] or t[2]) and t[2] < t[0]
)


def drive(r: Rollout, data: st.DataObject, *, new_ok: float) -> tuple[Rollout, list[Phase]]:
    """Plan, apply and feed random observations until the rollout ends; check as we go."""
    now, phases = 0, []
    for turn in range(80):
        for step in plan(r, now):
            if isinstance(step, Finish):
                phases.append(step.phase)
            r = apply(r, step, now)
            check(r)
        if r.done:
            return r, phases
        r = _observe(r, data, late=turn > 40, new_ok=new_ok)
        now += data.draw(st.sampled_from([0, 500, 3_000, 11_000]))
    raise AssertionError(f"the rollout never ended: {r}")


def _observe(r: Rollout, data: st.DataObject, *, late: bool, new_ok: float) -> Rollout:
    """Health checks answer (at once for a healthy image), drains end at random (surely late)."""
    for i in r.instances:
        at_once = late or new_ok == 1.0 or i.image == V1  # the old image is known good
        if i.health is Health.STARTING and (at_once or data.draw(st.booleans())):
            good = i.image == V1 or data.draw(st.floats(0, 1)) <= new_ok
            r = observe_health(r, i.name, Health.HEALTHY if good else Health.UNHEALTHY)
        if i.draining and i.in_traffic and (late or data.draw(st.booleans())):
            r = observe_drained(r, i.name)
    return r


def check(r: Rollout) -> None:
    floor = r.spec.replicas - r.spec.max_unavailable
    assert in_traffic_capacity(r) >= floor, r
    assert len(r.instances) <= r.spec.replicas + r.spec.max_surge, r


@settings(max_examples=60, deadline=None)
@given(shape=shapes, data=st.data())
def test_a_healthy_rollout_never_drops_below_capacity_and_ends_all_new(
    shape: tuple[int, int, int], data: st.DataObject
) -> None:
    replicas, surge, unavailable = shape
    r = start_rollout(spec(replicas, surge, unavailable), running(replicas), V2, prefix="d")
    end, phases = drive(r, data, new_ok=1.0)
    assert phases == [Phase.SUCCEEDED]
    assert [(i.image, i.in_traffic) for i in end.instances] == [(V2, True)] * replicas


@settings(max_examples=60, deadline=None)
@given(shape=shapes, data=st.data())
def test_a_failing_rollout_rolls_back_once_and_ends_all_old(
    shape: tuple[int, int, int], data: st.DataObject
) -> None:
    replicas, surge, unavailable = shape
    r = start_rollout(spec(replicas, surge, unavailable), running(replicas), V2, prefix="d")
    end, phases = drive(r, data, new_ok=data.draw(st.floats(0, 0.9)))
    assert phases in ([Phase.SUCCEEDED], [Phase.ROLLING_BACK, Phase.ROLLED_BACK])
    if phases[-1] is Phase.ROLLED_BACK:
        assert [(i.image, i.in_traffic) for i in end.instances] == [(V1, True)] * replicas


def test_an_instance_never_healthy_rolls_back_after_the_deadline_not_before() -> None:
    r = start_rollout(spec(3, 1, 0), running(3), V2, prefix="d")
    [start] = plan(r, 0)
    assert isinstance(start, Start)
    r = apply(r, start, 0)
    assert plan(r, 10_000) == ()
    [finish] = plan(r, 10_001)
    assert finish == Finish(
        Phase.ROLLING_BACK, f"instance d-1 of {V2} was not healthy within 10000 ms"
    )


def test_a_failure_while_rolling_back_fails_instead_of_rolling_back_again() -> None:
    r = start_rollout(spec(1, 1, 0), running(1), V2, prefix="d")
    r = apply(r, Finish(Phase.ROLLING_BACK, "bad"), 0)
    r = apply(r, Start("d-9", V1), 0)
    r = observe_health(r, "d-9", Health.UNHEALTHY)
    [finish] = plan(r, 1)
    assert isinstance(finish, Finish) and finish.phase is Phase.FAILED
    assert finish.reason.startswith("rollback failed")


def test_a_first_deploy_that_fails_has_nothing_to_roll_back_to() -> None:
    r = start_rollout(spec(2, 1, 0), (), V2, prefix="d")
    assert [type(s) for s in plan(r, 0)] == [Start, Start]
    for s in plan(r, 0):
        r = apply(r, s, 0)
    r = observe_health(r, "d-1", Health.UNHEALTHY)
    [finish] = plan(r, 1)
    assert isinstance(finish, Finish) and finish.phase is Phase.FAILED
