"""A fast ``dataclasses.replace`` for the core's frozen, slotted state records.

``evolve`` copies a stage and a run on every event; ``dataclasses.replace`` re-runs the
whole ``__init__`` machinery each time and was a third of ``decide``'s cost.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["replace"]

T = TypeVar("T")
_FIELDS: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}
_set = object.__setattr__


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the frozen dataclass ``obj`` with ``changes`` (no ``__post_init__``)."""
    cls = type(obj)
    known = _FIELDS.get(cls)
    if known is None:
        names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        known = _FIELDS[cls] = (names, frozenset(names))
    if not known[1].issuperset(changes):
        raise TypeError(f"{cls.__name__} has no field {sorted(set(changes) - known[1])}")
    new = object.__new__(cls)
    for name in known[0]:
        _set(new, name, changes[name] if name in changes else getattr(obj, name))
    return new
