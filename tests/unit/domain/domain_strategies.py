"""Hypothesis strategies: random valid DAGs of stages (declared in any order)."""

from __future__ import annotations

from hypothesis import strategies as st

from orchestrator.domain import FailureClass, RetryPolicy, StageSpec, WhenRule

# Built once: strategies made inside a draw are rebuilt (and cached) on every example.
_WHEN = st.lists(st.sampled_from(list(FailureClass)), max_size=3, unique=True).map(tuple)
_BRANCHES = st.sampled_from(
    [(), (), (), (), (), (), ("main",), ("feature/*",), ("release/*", "main")]
)
_ONE_IN_SIX = st.integers(0, 5).map(lambda n: n == 0)
_ONE_IN_FIFTEEN = st.integers(0, 14).map(lambda n: n == 0)
RETRY_POLICIES = st.builds(
    RetryPolicy,
    max=st.integers(0, 3),
    when=_WHEN,
    backoff_base_ms=st.sampled_from([0, 1_000, 2_000]),
    backoff_factor=st.sampled_from([1.0, 2.0, 3.5]),
    backoff_cap_ms=st.sampled_from([5_000, 300_000]),
)


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
def pipelines(draw: st.DrawFn, max_stages: int = 200) -> list[StageSpec]:
    """A valid snapshot with random retry policies, allow_failure, manual and branch rules."""
    return [
        StageSpec(
            name=name,
            script=("true",),
            needs=needs,
            allow_failure=draw(_ONE_IN_SIX),
            retry=draw(RETRY_POLICIES),
            when=WhenRule(branches=draw(_BRANCHES), manual=draw(_ONE_IN_FIFTEEN)),
        )
        for name, needs in draw(graphs(max_stages))
    ]
