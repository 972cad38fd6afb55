"""Reading typed values out of a composed YAML node tree, collecting every error.

We read PyYAML's node tree (``yaml.compose``) rather than loaded Python objects because
nodes keep line numbers and keep duplicate keys, which a plain loader silently drops.
Scalars meant as text keep their source spelling, so ``python: 3.10`` stays ``"3.10"``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from enum import StrEnum
from typing import TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from orchestrator.domain.dag import suggest
from orchestrator.domain.durations import parse_duration_ms, parse_size_bytes
from orchestrator.domain.errors import (
    DuplicateKey,
    InvalidDuration,
    InvalidSize,
    InvalidValue,
    PipelineError,
    PipelineInvalid,
    UnknownKey,
    WrongType,
    YamlSyntaxError,
)

__all__ = ["Entry", "NodeReader", "compose", "line_of"]

E = TypeVar("E", bound=StrEnum)
Entry = tuple[Node, Node]

_TAG = "tag:yaml.org,2002:"
_TEXT_TAGS = frozenset({_TAG + "str", _TAG + "int", _TAG + "float"})
_KIND = {
    _TAG + "null": "null",
    _TAG + "bool": "true/false",
    _TAG + "int": "an integer",
    _TAG + "float": "a number",
    _TAG + "str": "a string",
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# libyaml's composer keeps the same marks and is ~10x faster than the pure-Python one
# (a 60-stage file: most of its parse time); PyYAML's wheels ship it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str) -> Node | None:
    """The node tree of one YAML document; raises :class:`PipelineInvalid` on bad syntax."""
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = e.problem or "invalid YAML"
        if e.context and e.context_mark is not None:
            problem = f"{problem} ({e.context} from line {e.context_mark.line + 1})"
        raise PipelineInvalid([YamlSyntaxError(problem, line=line, column=column)]) from e
    except yaml.YAMLError as e:
        raise PipelineInvalid([YamlSyntaxError(str(e), line=None, column=None)]) from e


def line_of(node: Node) -> int | None:
    """The 1-based line where a node starts."""
    mark = node.start_mark
    return mark.line + 1 if mark is not None else None


def kind_of(node: Node) -> str:
    """How to name a node's kind in an error message."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _KIND.get(node.tag, node.tag)


class NodeReader:
    """Typed accessors that record a :class:`PipelineError` and return None on bad input."""

    def __init__(self) -> None:
        self.errors: list[PipelineError] = []

    def fail(self, error: PipelineError) -> None:
        """Record one error and carry on, like a compiler."""
        self.errors.append(error)

    def wrong(self, node: Node, where: str, expected: str) -> None:
        """Record a :class:`WrongType` for ``node``."""
        self.fail(WrongType(where, expected, kind_of(node), line=line_of(node)))

    def mapping(
        self,
        node: Node,
        where: str,
        allowed: Collection[str] | None = None,
        *,
        on_duplicate: Callable[[str, Node, Node], PipelineError] | None = None,
    ) -> dict[str, Entry] | None:
        """Key → (key node, value node), merge keys (``<<``) applied, in file order."""
        if not isinstance(node, MappingNode):
            self.wrong(node, where, "a mapping")
            return None
        entries: dict[str, Entry] = {}
        for merged_key, entry in self._merged(node, where):
            entries.setdefault(merged_key, entry)  # YAML: an earlier merge source wins
        explicit: dict[str, Entry] = {}
        for key_node, value in node.value:
            key = self._key(key_node, where)
            if key is None or key_node.tag == _TAG + "merge":
                continue
            if key in explicit:
                self.fail(self._duplicate(key, key_node, explicit[key][0], where, on_duplicate))
                continue
            explicit[key] = (key_node, value)
            if allowed is not None and key not in allowed:
                self.fail(UnknownKey(where, key, suggest(key, allowed), line=line_of(key_node)))
        entries.update(explicit)
        return {k: e for k, e in entries.items() if allowed is None or k in allowed}

    def _duplicate(
        self,
        key: str,
        node: Node,
        first: Node,
        where: str,
        on_duplicate: Callable[[str, Node, Node], PipelineError] | None,
    ) -> PipelineError:
        if on_duplicate is not None:
            return on_duplicate(key, node, first)
        return DuplicateKey(where, key, line=line_of(node), first_line=line_of(first))

    def _merged(self, node: MappingNode, where: str) -> Iterator[tuple[str, Entry]]:
        for key_node, value in node.value:
            if key_node.tag != _TAG + "merge":
                continue
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                merged = self.mapping(source, f"{where} (merged)")
                yield from (merged or {}).items()

    def _key(self, node: Node, where: str) -> str | None:
        if not isinstance(node, ScalarNode):
            self.wrong(node, f"a key in {where}", "a string")
            return None
        return str(node.value)

    def text(self, node: Node, where: str) -> str | None:
        """A scalar as its source text (strings and numbers; not booleans or null)."""
        if isinstance(node, ScalarNode) and node.tag in _TEXT_TAGS:
            return str(node.value)
        self.wrong(node, where, "a string")
        return None

    def text_items(self, node: Node, where: str) -> list[tuple[str, int | None]] | None:
        """A list of texts (or one text) with each item's line."""
        if isinstance(node, ScalarNode) and node.tag in _TEXT_TAGS:
            return [(str(node.value), line_of(node))]
        if not isinstance(node, SequenceNode):
            self.wrong(node, where, "a list of strings")
            return None
        items: list[tuple[str, int | None]] = []
        for item in node.value:
            value = self.text(item, f"each item of {where}")
            if value is not None:
                items.append((value, line_of(item)))
        return items

    def texts(self, node: Node, where: str) -> tuple[str, ...] | None:
        """A list of texts (or one text)."""
        items = self.text_items(node, where)
        return None if items is None else tuple(value for value, _ in items)

    def text_map(self, node: Node, where: str) -> dict[str, str] | None:
        """A mapping of names to texts."""
        entries = self.mapping(node, where)
        if entries is None:
            return None
        result: dict[str, str] = {}
        for key, (_, value_node) in entries.items():
            value = self.text(value_node, f"{where}.{key}")
            if value is not None:
                result[key] = value
        return result

    def boolean(self, node: Node, where: str) -> bool | None:
        """``true`` or ``false``."""
        if isinstance(node, ScalarNode) and node.tag == _TAG + "bool":
            return bool(_CONSTRUCTOR.construct_yaml_bool(node))
        self.wrong(node, where, "true or false")
        return None

    def integer(self, node: Node, where: str, low: int, high: int) -> int | None:
        """An integer within ``[low, high]``."""
        if not (isinstance(node, ScalarNode) and node.tag == _TAG + "int"):
            self.wrong(node, where, "an integer")
            return None
        value = int(_CONSTRUCTOR.construct_yaml_int(node))
        if not low <= value <= high:
            self.fail(InvalidValue(where, value, f"{low} to {high}", line=line_of(node)))
            return None
        return value

    def number(self, node: Node, where: str, minimum: float, *, strict: bool) -> float | None:
        """A number above (``strict``) or at least ``minimum``."""
        if not (isinstance(node, ScalarNode) and node.tag in (_TAG + "int", _TAG + "float")):
            self.wrong(node, where, "a number")
            return None
        value = float(node.value)
        if value < minimum or (strict and value == minimum):
            bound = f"{'more than' if strict else 'at least'} {minimum:g}"
            self.fail(InvalidValue(where, value, f"a number {bound}", line=line_of(node)))
            return None
        return value

    def duration(self, node: Node, where: str, *, positive: bool) -> int | None:
        """Milliseconds of a duration such as ``90s`` or ``1h30m``."""
        text = self.text(node, where)
        if text is None:
            return None
        try:
            value = parse_duration_ms(int(text) if text.isdigit() else text)
        except ValueError:
            self.fail(InvalidDuration(where, text, line=line_of(node)))
            return None
        if positive and value <= 0:
            self.fail(InvalidValue(where, text, "a duration above zero", line=line_of(node)))
            return None
        return value

    def size(self, node: Node, where: str) -> int | None:
        """Bytes of a size such as ``512Mi`` or ``2G``; must be above zero."""
        text = self.text(node, where)
        if text is None:
            return None
        try:
            value = parse_size_bytes(int(text) if text.isdigit() else text)
        except ValueError:
            self.fail(InvalidSize(where, text, line=line_of(node)))
            return None
        if value <= 0:
            self.fail(InvalidValue(where, text, "a size above zero", line=line_of(node)))
            return None
        return value

    def choice(self, node: Node, where: str, kind: type[E]) -> E | None:
        """One symbol of a closed vocabulary."""
        text = self.text(node, where)
        if text is None:
            return None
        try:
            return kind(text)
        except ValueError:
            allowed = ", ".join(repr(str(m.value)) for m in kind)
            self.fail(InvalidValue(where, text, f"one of {allowed}", line=line_of(node)))
            return None
