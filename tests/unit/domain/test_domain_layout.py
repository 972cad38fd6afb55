"""The run page's DAG layout: collapse, layers, transitive reduction, barycenter order."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.layout import (
    NODE_H,
    NODE_W,
    StageBox,
    collapse,
    layers,
    layout,
    order,
    reduce_edges,
)


@st.composite
def dags(draw: st.DrawFn) -> list[StageBox]:
    """Stages in declaration order, each needing some earlier ones; some are matrix
    expansions (``base [k=v]``) that share their needs like the real expansion does."""
    count = draw(st.integers(1, 24))
    out: list[StageBox] = []
    for i in range(count):
        earlier = [s.name for s in out]
        needs = tuple(draw(st.lists(st.sampled_from(earlier), unique=True))) if earlier else ()
        status = draw(st.sampled_from(["success", "failed", "running", "pending", "queued"]))
        width = draw(st.integers(1, 3))
        if width == 1:
            out.append(StageBox(f"s{i}", needs, status))
        else:
            out.extend(StageBox(f"s{i} [k={j}]", needs, status) for j in range(width))
    return out


def _reach(edges: list[tuple[str, str]], nodes: list[str]) -> set[tuple[str, str]]:
    succ: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        succ[a].add(b)
    out = set()
    for n in nodes:
        stack, seen = [n], set[str]()
        while stack:
            for m in succ[stack.pop()] - seen:
                seen.add(m)
                stack.append(m)
        out |= {(n, m) for m in seen}
    return out


@given(dags())
def test_collapse_keeps_every_stage_in_exactly_one_node(stages: list[StageBox]) -> None:
    nodes = collapse(stages)
    members = [m for n in nodes for m in n.members]
    assert sorted(members) == sorted(s.name for s in stages)
    assert sum(c for n in nodes for _, c in n.counts) == len(stages)


def test_collapse_merges_matrix_expansions_and_counts_their_statuses() -> None:
    stages = [
        StageBox("build", (), "success"),
        *(
            StageBox(f"test [py=3.{i}]", ("build",), "failed" if i == 1 else "success")
            for i in range(3)
        ),
        StageBox("deploy", tuple(f"test [py=3.{i}]" for i in range(3)), "pending"),
    ]
    nodes = {n.id: n for n in collapse(stages)}
    assert list(nodes) == ["build", "test", "deploy"]
    assert nodes["test"].counts == (("failed", 1), ("success", 2))
    assert nodes["test"].status == "failed"
    assert nodes["deploy"].needs == ("test",)


def test_collapse_never_merges_an_expansion_into_a_plain_stage_of_its_base_name() -> None:
    nodes = collapse([StageBox("x", (), "success"), StageBox("x [k=1]", ("x",), "success")])
    assert [n.id for n in nodes] == ["x", "x [k=1]"]


@given(dags())
def test_every_node_is_one_layer_right_of_its_furthest_need(stages: list[StageBox]) -> None:
    nodes = collapse(stages)
    layer = layers(nodes)
    for n in nodes:
        assert layer[n.id] == 1 + max((layer[m] for m in n.needs), default=-1)


@given(dags())
def test_reduction_keeps_reachability_and_drops_every_implied_edge(
    stages: list[StageBox],
) -> None:
    nodes = collapse(stages)
    ids = [n.id for n in nodes]
    full = [(m, n.id) for n in nodes for m in n.needs]
    reduced = reduce_edges(nodes, layers(nodes))
    assert set(reduced) <= set(full)
    assert _reach(reduced, ids) == _reach(full, ids)
    for edge in reduced:
        assert edge[1] not in {
            b for a, b in _reach([e for e in reduced if e != edge], ids) if a == edge[0]
        }


@given(dags())
def test_order_puts_each_node_once_in_its_own_layer(stages: list[StageBox]) -> None:
    nodes = collapse(stages)
    layer = layers(nodes)
    columns = order(nodes, layer, reduce_edges(nodes, layer))
    assert sorted(itertools.chain.from_iterable(columns)) == sorted(layer)
    for i, column in enumerate(columns):
        assert all(layer[n] == i for n in column)


def test_barycenter_sweep_uncrosses_two_parallel_chains() -> None:
    stages = [
        StageBox("a", (), "success"),
        StageBox("b", (), "success"),
        StageBox("from-b", ("b",), "success"),
        StageBox("from-a", ("a",), "success"),
    ]
    nodes = collapse(stages)
    layer = layers(nodes)
    assert order(nodes, layer, reduce_edges(nodes, layer)) == [["a", "b"], ["from-a", "from-b"]]


@settings(max_examples=50)
@given(dags())
def test_layout_places_no_two_boxes_on_top_of_each_other_and_edges_point_right(
    stages: list[StageBox],
) -> None:
    placed = layout(stages)
    spots = {(b.x, b.y) for b in placed.boxes}
    assert len(spots) == len(placed.boxes)
    x = {b.node.id: b.x for b in placed.boxes}
    for e in placed.edges:
        assert x[e.source] < x[e.target]
    assert all(b.x + NODE_W <= placed.width and b.y + NODE_H <= placed.height for b in placed.boxes)


@given(dags())
def test_layout_is_deterministic(stages: list[StageBox]) -> None:
    assert layout(stages) == layout(list(stages))


def test_a_two_hundred_stage_matrix_with_fan_in_collapses_to_three_nodes() -> None:
    stages = [
        StageBox("build", (), "success"),
        *(StageBox(f"test [n={i}]", ("build",), "success") for i in range(198)),
        StageBox("report", ("build", *(f"test [n={i}]" for i in range(198))), "pending"),
    ]
    placed = layout(stages)
    assert [b.node.id for b in placed.boxes] == ["build", "test", "report"]
    assert {(e.source, e.target) for e in placed.edges} == {("build", "test"), ("test", "report")}
