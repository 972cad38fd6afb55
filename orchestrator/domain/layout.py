"""Where each stage of a run's DAG is drawn: a pure layered layout (Sugiyama-style).

1. Matrix expansions (``test [py=3.11]``, ``test [py=3.12]``) collapse into one node per
   base name that counts its members' statuses.
2. Layers by the longest path from the roots: a node sits one column right of its
   furthest need, so every edge points right.
3. Edges are reduced transitively: ``a → c`` is not drawn when ``a → b → c`` exists.
4. Within a layer, nodes are ordered by a barycenter sweep (the mean row of their
   neighbours in the layer before, then after), starting from declaration order, so the
   same DAG always gets the same picture.

No I/O and no clock: the run page calls :func:`layout` with rows of the read model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "STATUS_ORDER",
    "Box",
    "Edge",
    "Layout",
    "StageBox",
    "collapse",
    "layers",
    "layout",
    "order",
    "reduce_edges",
]

# the status a group shows: the first of these that any member has
STATUS_ORDER = (
    "failed",
    "running",
    "queued",
    "manual",
    "pending",
    "cancelled",
    "skipped",
    "success",
)
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 180, 34, 60, 14, 10


@dataclass(frozen=True, slots=True)
class StageBox:
    """A stage as the layout needs it: its name, what it needs, its status."""

    name: str
    needs: tuple[str, ...]
    status: str


@dataclass(frozen=True, slots=True)
class Node:
    """One drawn node: a stage, or a matrix group of stages."""

    id: str
    members: tuple[str, ...]
    needs: tuple[str, ...]
    counts: tuple[tuple[str, int], ...]

    @property
    def status(self) -> str:
        """The group's status: the most telling one among its members."""
        present = dict(self.counts)
        return next((s for s in STATUS_ORDER if s in present), self.counts[0][0])

    @property
    def is_group(self) -> bool:
        """Whether the node stands for a matrix expansion."""
        return self.members != (self.id,)


@dataclass(frozen=True, slots=True)
class Box:
    """A node placed: its layer (column), row, and pixel position."""

    node: Node
    layer: int
    row: int
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Edge:
    """A drawn edge (after reduction) with its SVG path."""

    source: str
    target: str
    path: str


@dataclass(frozen=True, slots=True)
class Layout:
    """Every node placed, the reduced edges, and the picture's size."""

    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    width: int
    height: int


def _base(name: str) -> str:
    return name.split(" [", 1)[0] if name.endswith("]") and " [" in name else name


def collapse(stages: Sequence[StageBox]) -> list[Node]:
    """One node per stage, matrix expansions merged under their base name (declaration
    order of each group's first member); a group never swallows a stage of its own name."""
    plain = {s.name for s in stages if _base(s.name) == s.name}
    key = {s.name: s.name if _base(s.name) in plain else _base(s.name) for s in stages}
    members: dict[str, list[StageBox]] = {}
    for s in stages:
        members.setdefault(key[s.name], []).append(s)
    nodes = []
    for gid, group in members.items():
        needs = dict.fromkeys(key[n] for s in group for n in s.needs if n in key)
        needs.pop(gid, None)
        counts = Counter(s.status for s in group)
        nodes.append(
            Node(gid, tuple(s.name for s in group), tuple(needs), tuple(sorted(counts.items())))
        )
    return nodes


def layers(nodes: Sequence[Node]) -> dict[str, int]:
    """Each node's layer: 0 for roots, else one more than its furthest need."""
    needs = {n.id: n.needs for n in nodes}
    out: dict[str, int] = {}
    for n in nodes:
        stack = [n.id]
        while stack:  # iterative depth-first, so deep chains do not hit the recursion limit
            top = stack[-1]
            todo = [m for m in needs[top] if m not in out]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            out[top] = 1 + max((out[m] for m in needs[top]), default=-1)
    return out


def reduce_edges(nodes: Sequence[Node], layer: Mapping[str, int]) -> list[tuple[str, str]]:
    """The need edges ``(need, node)`` not implied by a longer path (transitive reduction)."""
    needs = {n.id: set(n.needs) for n in nodes}
    ancestors: dict[str, set[str]] = {}
    for nid in sorted(needs, key=lambda i: layer[i]):
        ancestors[nid] = set().union(*({m} | ancestors[m] for m in needs[nid]))
    edges: list[tuple[str, str]] = []
    for n in nodes:
        implied = set().union(*(ancestors[m] for m in n.needs))
        edges.extend((m, n.id) for m in n.needs if m not in implied)
    return edges


def order(
    nodes: Sequence[Node], layer: Mapping[str, int], edges: Sequence[tuple[str, str]]
) -> list[list[str]]:
    """Nodes of each layer in drawing order: declaration order, then barycenter sweeps."""
    columns: list[list[str]] = [[] for _ in range(1 + max(layer.values(), default=-1))]
    for n in nodes:
        columns[layer[n.id]].append(n.id)
    ups: dict[str, list[str]] = {n.id: [] for n in nodes}
    downs: dict[str, list[str]] = {n.id: [] for n in nodes}
    for a, b in edges:
        ups[b].append(a)
        downs[a].append(b)
    for _ in range(2):
        for i in range(1, len(columns)):
            columns[i] = _by_barycenter(columns[i], ups, _rows(columns))
        for i in range(len(columns) - 2, -1, -1):
            columns[i] = _by_barycenter(columns[i], downs, _rows(columns))
    return columns


def _rows(columns: Sequence[Sequence[str]]) -> dict[str, int]:
    return {nid: row for column in columns for row, nid in enumerate(column)}


def _by_barycenter(
    column: list[str], neighbours: Mapping[str, list[str]], row: Mapping[str, int]
) -> list[str]:
    def key(item: tuple[int, str]) -> tuple[float, int]:
        index, nid = item
        near = neighbours[nid]
        return (sum(row[m] for m in near) / len(near) if near else float(row[nid]), index)

    return [nid for _, nid in sorted(enumerate(column), key=key)]


def layout(stages: Sequence[StageBox]) -> Layout:
    """Collapse, layer, reduce, order and place the stages of one run."""
    nodes = collapse(stages)
    layer = layers(nodes)
    edges = reduce_edges(nodes, layer)
    columns = order(nodes, layer, edges)
    by_id = {n.id: n for n in nodes}
    boxes = {
        nid: Box(
            by_id[nid], li, row, MARGIN + li * (NODE_W + GAP_X), MARGIN + row * (NODE_H + GAP_Y)
        )
        for li, column in enumerate(columns)
        for row, nid in enumerate(column)
    }
    tallest = max((len(c) for c in columns), default=0)
    return Layout(
        boxes=tuple(boxes[n.id] for n in nodes),
        edges=tuple(Edge(a, b, _path(boxes[a], boxes[b])) for a, b in edges),
        width=2 * MARGIN + len(columns) * (NODE_W + GAP_X) - GAP_X,
        height=2 * MARGIN + tallest * (NODE_H + GAP_Y) - GAP_Y,
    )


def _path(a: Box, b: Box) -> str:
    """A cubic curve from the right side of ``a`` to the left side of ``b``."""
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    mid = (x1 + x2) // 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
