"""Matrix expansion: one stage per combination, named readably, in a deterministic order.

``integration`` with ``matrix: {python: ["3.10", "3.11"]}`` becomes
``integration [python=3.10]`` and ``integration [python=3.11]``; each carries its
combination in ``StageSpec.matrix`` and in its variables. A stage that needs
``integration`` needs every expansion.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from orchestrator.domain.model import StageSpec

__all__ = ["MATRIX_CAP", "Axes", "combinations", "count", "expand", "expanded_name"]

MATRIX_CAP = 256
Axes = tuple[tuple[str, tuple[str, ...]], ...]


def count(axes: Axes) -> int:
    """How many combinations the axes make."""
    return math.prod(len(values) for _, values in axes)


def combinations(axes: Axes) -> list[dict[str, str]]:
    """Every combination, the last axis varying fastest (like GitHub Actions)."""
    keys = [key for key, _ in axes]
    return [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*(v for _, v in axes))
    ]


def expanded_name(base: str, combination: Mapping[str, str]) -> str:
    """``base [k1=v1, k2=v2]``."""
    inner = ", ".join(f"{key}={value}" for key, value in combination.items())
    return f"{base} [{inner}]"


def expand(stages: Sequence[tuple[StageSpec, Axes]]) -> tuple[StageSpec, ...]:
    """Expand every matrix stage and point needs on a matrix stage at all its expansions."""
    names = {
        spec.name: [expanded_name(spec.name, c) for c in combinations(axes)]
        for spec, axes in stages
        if axes
    }
    expanded: list[StageSpec] = []
    for spec, axes in stages:
        needs = tuple(dict.fromkeys(n for need in spec.needs for n in names.get(need, [need])))
        if not axes:
            expanded.append(replace(spec, needs=needs))
            continue
        for combination in combinations(axes):
            expanded.append(
                replace(
                    spec,
                    name=expanded_name(spec.name, combination),
                    needs=needs,
                    variables={**spec.variables, **combination},
                    matrix=combination,
                )
            )
    return tuple(expanded)
