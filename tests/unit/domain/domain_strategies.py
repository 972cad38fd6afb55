"""Hypothesis strategies: random valid DAGs of stages (declared in any order)."""

from __future__ import annotations

from hypothesis import strategies as st

from orchestrator.domain import FailureClass, RetryPolicy, StageSpec, WhenRule

CLASSES = list(FailureClass)


@st.composite
def graphs(
    draw: st.DrawFn, max_stages: int = 200, max_needs: int = 3
) -> list[tuple[str, tuple[str, ...]]]:
    """(name, needs) in a random declaration order; acyclic by construction."""
    count = draw(st.integers(1, max_stages))
    names = [f"s{i}" for i in range(count)]
    needs = [
        tuple(sorted(set(draw(st.lists(st.integers(0, i - 1), max_size=max_needs))))) if i else ()
        for i in range(count)
    ]
    order = draw(st.permutations(range(count)))
    return [(names[i], tuple(names[j] for j in needs[i])) for i in order]


@st.composite
def retry_policies(draw: st.DrawFn) -> RetryPolicy:
    return RetryPolicy(
        max=draw(st.integers(0, 3)),
        when=tuple(draw(st.lists(st.sampled_from(CLASSES), max_size=3, unique=True))),
        backoff_base_ms=draw(st.sampled_from([0, 1_000, 2_000])),
        backoff_factor=draw(st.sampled_from([1.0, 2.0, 3.5])),
        backoff_cap_ms=draw(st.sampled_from([5_000, 300_000])),
    )


@st.composite
def pipelines(draw: st.DrawFn, max_stages: int = 200) -> list[StageSpec]:
    """A valid snapshot with random retry policies, allow_failure, manual and branch rules."""
    stages = []
    for name, needs in draw(graphs(max_stages)):
        manual = draw(st.integers(0, 14)) == 0
        rule = draw(st.integers(0, 9))
        branches = (("main",), ("feature/*",), ("release/*", "main"))[rule] if rule < 3 else ()
        stages.append(
            StageSpec(
                name=name,
                script=("true",),
                needs=needs,
                allow_failure=draw(st.integers(0, 5)) == 0,
                retry=draw(retry_policies()),
                when=WhenRule(branches=branches, manual=manual),
            )
        )
    return stages
