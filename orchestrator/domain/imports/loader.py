"""YAML for the importers: plain values that remember their lines, and GitLab's ``!reference``.

Mappings load as :class:`LineMap` (a dict with ``line`` and ``lines[key]``), sequences as
:class:`LineList` (a list with ``line`` and ``lines[index]``); anchors, aliases and merge
keys (``<<``) resolve as YAML 1.1 says. ``!reference [job, key, ...]`` loads as a
:class:`Reference` for the GitLab importer to resolve. A file no loader accepts raises
:class:`~orchestrator.domain.imports.report.ImportRefused` with the line of the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from orchestrator.domain.imports.report import ImportRefused

__all__ = ["LineList", "LineMap", "Reference", "line_of", "load"]


class LineMap(dict[Any, Any]):
    """A mapping with the line of itself and of each key."""

    line: int = 0
    lines: dict[Any, int]


class LineList(list[Any]):
    """A sequence with the line of itself and of each item."""

    line: int = 0
    lines: list[int]


@dataclass(frozen=True, slots=True)
class Reference:
    """``!reference [job, key, ...]``: the value at that path of the document."""

    path: tuple[str, ...]
    line: int


class _Loader(yaml.SafeLoader):
    pass


def _map(loader: _Loader, node: MappingNode) -> LineMap:
    loader.flatten_mapping(node)
    found = LineMap()
    found.line, found.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        found[key] = loader.construct_object(value_node, deep=True)
        found.lines[key] = key_node.start_mark.line + 1
    return found


def _seq(loader: _Loader, node: SequenceNode) -> LineList:
    found = LineList(loader.construct_object(item, deep=True) for item in node.value)
    found.line = node.start_mark.line + 1
    found.lines = [item.start_mark.line + 1 for item in node.value]
    return found


def _reference(loader: _Loader, node: Node) -> Reference:
    if not isinstance(node, SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!reference needs a list such as [.job, script]", node.start_mark
        )
    path = tuple(str(loader.construct_object(item)) for item in node.value)
    return Reference(path, node.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _seq)
_Loader.add_constructor("!reference", _reference)


def load(text: str) -> Any:
    """The document in ``text``; :class:`ImportRefused` (with a line) when it is not YAML."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        raise ImportRefused(_yaml_problem(e), line=_yaml_line(e)) from e
    except yaml.YAMLError as e:
        raise ImportRefused(f"not valid YAML: {e}", line=None) from e


def _yaml_line(e: yaml.MarkedYAMLError) -> int | None:
    # A constructor error is about the node it was building (e.g. a merge key); a parser
    # error is where the text went wrong.
    constructing = isinstance(e, yaml.constructor.ConstructorError)
    mark = (e.context_mark or e.problem_mark) if constructing else e.problem_mark
    return mark.line + 1 if mark is not None else None


def _yaml_problem(e: yaml.MarkedYAMLError) -> str:
    """The loader's words; where it looked elsewhere (an alias), that line too."""
    if isinstance(e, yaml.constructor.ConstructorError) and e.problem_mark and e.context_mark:
        return f"not valid YAML: {e.context}: {e.problem} (line {e.problem_mark.line + 1})"
    return f"not valid YAML: {e.problem or e.context}"


def line_of(value: object, default: int = 0) -> int:
    """The line of a loaded mapping or sequence (``default`` for a scalar)."""
    return int(getattr(value, "line", default) or default)
