"""compile_dag / check_graph: levels, order, closures and typed errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain import (
    DependencyCycle,
    DuplicateStage,
    PipelineInvalid,
    SelfDependency,
    StageSpec,
    UnknownNeed,
    check_graph,
    compile_dag,
)
from tests.unit.domain.domain_strategies import graphs


def stages(*pairs: tuple[str, tuple[str, ...]]) -> list[StageSpec]:
    return [StageSpec(name=name, script=("x",), needs=needs) for name, needs in pairs]


def test_levels_group_stages_that_can_run_together_in_declaration_order() -> None:
    dag = compile_dag(stages(("z", ("a",)), ("a", ()), ("m", ("a",)), ("end", ("z", "m"))))
    assert dag.levels == (("a",), ("z", "m"), ("end",))
    assert dag.roots == ("a",)


def test_ready_stages_come_out_in_declaration_order() -> None:
    dag = compile_dag(stages(("z", ("a",)), ("a", ()), ("m", ("a",)), ("end", ("z", "m"))))
    assert dag.ready({"a"}, {"end", "m", "z"}) == ("z", "m")


def test_upstream_and_downstream_are_transitive_in_declaration_order() -> None:
    dag = compile_dag(stages(("c", ("b",)), ("b", ("a",)), ("a", ()), ("d", ())))
    assert dag.upstream["c"] == ("b", "a")
    assert dag.downstream["a"] == ("c", "b")
    assert dag.upstream["d"] == () and dag.downstream["d"] == ()


def test_an_invalid_snapshot_raises_with_every_error() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        compile_dag(stages(("a", ("a",)), ("b", ("nope",)), ("b", ())))
    assert {type(e) for e in caught.value.errors} == {SelfDependency, UnknownNeed, DuplicateStage}


def test_two_separate_cycles_are_both_reported() -> None:
    errors = check_graph(["a", "b", "c", "d"], {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]})
    assert [e.path for e in errors if isinstance(e, DependencyCycle)] == [
        ("a", "b", "a"),
        ("c", "d", "c"),
    ]


def test_a_stage_after_a_cycle_is_not_itself_reported_as_a_cycle() -> None:
    errors = check_graph(["x", "a", "b"], {"x": ["a"], "a": ["b"], "b": ["a"]})
    assert [e.path for e in errors if isinstance(e, DependencyCycle)] == [("a", "b", "a")]


@settings(max_examples=40, deadline=None)
@given(graphs(max_stages=200))
def test_every_random_acyclic_graph_compiles_with_needs_on_earlier_levels(
    graph: list[tuple[str, tuple[str, ...]]],
) -> None:
    dag = compile_dag(stages(*graph))
    level_of = {name: i for i, level in enumerate(dag.levels) for name in level}
    assert sorted(level_of) == sorted(name for name, _ in graph)
    for name, needs in graph:
        assert all(level_of[need] < level_of[name] for need in needs)
        assert set(needs) <= set(dag.upstream[name])


@settings(max_examples=40, deadline=None)
@given(graphs(max_stages=60), st.data())
def test_a_back_edge_makes_a_cycle_whose_path_follows_needs(
    graph: list[tuple[str, tuple[str, ...]]], data: st.DataObject
) -> None:
    with_needs = [(name, needs) for name, needs in graph if needs]
    if not with_needs:
        return
    name, _ = data.draw(st.sampled_from(with_needs))
    ancestor = data.draw(st.sampled_from(compile_dag(stages(*graph)).upstream[name]))
    needs_of = {n: list(ns) for n, ns in graph}
    needs_of[ancestor].append(name)
    cycles = [
        e for e in check_graph([n for n, _ in graph], needs_of) if isinstance(e, DependencyCycle)
    ]
    assert cycles
    for error in cycles:
        path = error.path
        assert path[0] == path[-1]
        assert all(path[i + 1] in needs_of[path[i]] for i in range(len(path) - 1))


def test_snapshots_of_the_same_graph_share_one_compiled_dag_whatever_their_scripts() -> None:
    first = [
        StageSpec(name="a", script=("make",)),
        StageSpec(name="b", script=("x",), needs=("a",)),
    ]
    again = [StageSpec(name="a", script=("ls",)), StageSpec(name="b", script=("y",), needs=("a",))]

    assert compile_dag(again) is compile_dag(first)
    assert compile_dag(stages(("a", ()), ("b", ()))) != compile_dag(first)


def test_an_invalid_graph_is_refused_each_time_it_is_compiled() -> None:
    cyclic = stages(("a", ("b",)), ("b", ("a",)))
    for _ in range(2):
        with pytest.raises(PipelineInvalid):
            compile_dag(cyclic)
