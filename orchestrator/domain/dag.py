"""The stage graph, checked like a compiler pass.

``check_graph`` finds every duplicate, self-need, unknown need and cycle (with its path);
``compile_dag`` turns a valid snapshot into a :class:`Dag` with topological levels and
transitive needs. Everything that lists stages lists them in declaration order, so replays
and tests are stable.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from functools import lru_cache

from orchestrator.domain.errors import (
    DependencyCycle,
    DuplicateStage,
    PipelineError,
    PipelineInvalid,
    SelfDependency,
    UnknownNeed,
)
from orchestrator.domain.model import StageSpec

__all__ = ["Dag", "check_graph", "compile_dag", "dag_of", "suggest"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Dag:
    """A valid stage graph; every tuple of names is in declaration order."""

    order: tuple[str, ...]
    needs: Mapping[str, tuple[str, ...]]
    dependents: Mapping[str, tuple[str, ...]]
    levels: tuple[tuple[str, ...], ...]
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]

    @property
    def roots(self) -> tuple[str, ...]:
        """Stages that need nothing."""
        return self.levels[0] if self.levels else ()

    def ready(self, met: Set[str], candidates: Iterable[str]) -> tuple[str, ...]:
        """The candidates whose needs are all in ``met``, in declaration order."""
        chosen = set(candidates)
        return tuple(s for s in self.order if s in chosen and all(n in met for n in self.needs[s]))


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word``, if any is close enough to be a typo."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def check_graph(
    order: Sequence[str],
    needs: Mapping[str, Sequence[str]],
    *,
    stage_lines: Mapping[str, int] | None = None,
    need_lines: Mapping[tuple[str, str], int] | None = None,
) -> list[PipelineError]:
    """Every problem of a graph: duplicate names, self-needs, unknown needs, cycles."""
    stage_lines = stage_lines or {}
    need_lines = need_lines or {}
    errors: list[PipelineError] = []
    seen: set[str] = set()
    for name in order:
        if name in seen:
            errors.append(DuplicateStage(name, line=None, first_line=stage_lines.get(name)))
        seen.add(name)
    known = _known_needs(order, needs, need_lines, errors)
    for path in find_cycles(order, known):
        errors.append(DependencyCycle(path, line=stage_lines.get(path[0])))
    return errors


def _known_needs(
    order: Sequence[str],
    needs: Mapping[str, Sequence[str]],
    need_lines: Mapping[tuple[str, str], int],
    errors: list[PipelineError],
) -> dict[str, tuple[str, ...]]:
    names = set(order)
    known: dict[str, tuple[str, ...]] = {}
    for stage in dict.fromkeys(order):
        kept: list[str] = []
        for need in needs.get(stage, ()):
            line = need_lines.get((stage, need))
            if need == stage:
                errors.append(SelfDependency(stage, line=line))
            elif need not in names:
                errors.append(UnknownNeed(stage, need, suggest(need, order), line=line))
            else:
                kept.append(need)
        known[stage] = tuple(dict.fromkeys(kept))
    return known


def find_cycles(order: Sequence[str], needs: Mapping[str, Sequence[str]]) -> list[tuple[str, ...]]:
    """One shortest cycle per strongly connected group, as ``(a, b, …, a)``: a needs b …"""
    stuck = _unsortable(order, needs)
    covered: set[str] = set()
    cycles: list[tuple[str, ...]] = []
    for start in order:
        if start not in stuck or start in covered:
            continue
        path = _shortest_cycle(start, needs, stuck)
        if path is not None:
            cycles.append(path)
            covered |= _reach(start, needs, stuck) & _reach(start, _reverse(needs), stuck)
    return cycles


def _unsortable(order: Sequence[str], needs: Mapping[str, Sequence[str]]) -> set[str]:
    """Stages that no topological order can place: on a cycle or after one."""
    sorted_ = {name for name, _ in _levels_of(order, needs)}
    return set(order) - sorted_


def _shortest_cycle(
    start: str, needs: Mapping[str, Sequence[str]], within: Set[str]
) -> tuple[str, ...] | None:
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in needs.get(node, ()):
            if nxt == start:
                return (*_path_to(node, parent, start), start)
            if nxt in within and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None


def _path_to(node: str, parent: Mapping[str, str], start: str) -> tuple[str, ...]:
    path = [node]
    while path[-1] != start:
        path.append(parent[path[-1]])
    return tuple(reversed(path))


def _reach(start: str, edges: Mapping[str, Sequence[str]], within: Set[str]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt in within and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _reverse(needs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    reverse: dict[str, list[str]] = {}
    for stage, wanted in needs.items():
        for need in wanted:
            reverse.setdefault(need, []).append(stage)
    return reverse


def _levels_of(order: Sequence[str], needs: Mapping[str, Sequence[str]]) -> list[tuple[str, int]]:
    """(stage, level) for every stage a topological order can place, level 1 = roots."""
    dependents = _reverse(needs)
    missing = {s: len(set(needs.get(s, ()))) for s in order}
    level = {s: 1 for s in order}
    queue = deque(s for s in order if missing[s] == 0)
    placed: list[tuple[str, int]] = []
    while queue:
        node = queue.popleft()
        placed.append((node, level[node]))
        for dep in dict.fromkeys(dependents.get(node, ())):
            level[dep] = max(level[dep], level[node] + 1)
            missing[dep] -= 1
            if missing[dep] == 0:
                queue.append(dep)
    return placed


def compile_dag(stages: Sequence[StageSpec]) -> Dag:
    """Check a snapshot and build its :class:`Dag`; raises :class:`PipelineInvalid`."""
    return _compiled(tuple((s.name, s.needs) for s in stages))


# A Dag is a function of the names and needs alone, and every process that folds a run
# compiles its RunCreated's snapshot again: a pipeline's runs share a few shapes. Only valid
# graphs are kept (an exception is not cached).
@lru_cache(maxsize=1024)
def _compiled(graph: tuple[tuple[str, tuple[str, ...]], ...]) -> Dag:
    order = tuple(name for name, _ in graph)
    needs: dict[str, tuple[str, ...]] = {}
    for name, wanted in graph:  # a duplicate name is an error below; keep both needs to report them
        needs[name] = tuple(dict.fromkeys((*needs.get(name, ()), *wanted)))
    errors = check_graph(order, needs)
    if errors:
        raise PipelineInvalid(errors)
    return _build(order, needs)


def dag_of(order: tuple[str, ...], needs: Mapping[str, tuple[str, ...]]) -> Dag:
    """The :class:`Dag` of stages already checked (a run's stages as ``RunCreated`` recorded)."""
    return _build(order, needs)


def _build(order: tuple[str, ...], needs: Mapping[str, tuple[str, ...]]) -> Dag:
    index = {name: i for i, name in enumerate(order)}
    placed = _levels_of(order, needs)
    depth = max((lvl for _, lvl in placed), default=0)
    by_level: list[list[str]] = [[] for _ in range(depth)]
    for name, lvl in sorted(placed, key=lambda p: index[p[0]]):
        by_level[lvl - 1].append(name)
    reverse = _reverse(needs)
    dependents = {s: tuple(sorted(reverse.get(s, ()), key=index.__getitem__)) for s in order}
    up = _closure((name for name, _ in placed), needs, index)
    down = _closure((name for name, _ in reversed(placed)), dependents, index)
    return Dag(
        order=order,
        needs=needs,
        dependents=dependents,
        levels=tuple(tuple(level) for level in by_level),
        upstream={s: _names(up[s], order) for s in order},
        downstream={s: _names(down[s], order) for s in order},
    )


def _closure(
    topo: Iterable[str], edges: Mapping[str, Sequence[str]], index: Mapping[str, int]
) -> dict[str, int]:
    """Transitive reach of each stage as a bit set over declaration positions."""
    reach: dict[str, int] = {}
    for node in topo:
        bits = 0
        for nxt in edges.get(node, ()):
            bits |= (1 << index[nxt]) | reach[nxt]
        reach[node] = bits
    return reach


def _names(bits: int, order: Sequence[str]) -> tuple[str, ...]:
    names: list[str] = []
    position = 0
    while bits:
        if bits & 1:
            names.append(order[position])
        bits >>= 1
        position += 1
    return tuple(names)
