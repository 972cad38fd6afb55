"""Cache keys: a plain string, or a template with ``${{ hashFiles('FILE', ...) }}`` (pure).

:func:`parse_key` splits a template into literal text and the file lists to hash; the
runner hashes the files of the checkout and joins the parts (:func:`render_key`), so the
same commit always gives the same key. Anything else inside ``${{ }}`` is refused when the
pipeline is checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["HashFiles", "KeyPart", "parse_key", "render_key", "safe_key"]

_EXPR = re.compile(r"\$\{\{(.*?)\}\}")
_HASH_FILES = re.compile(r"\s*hashFiles\(\s*(.*?)\s*\)\s*")
_ARG = re.compile(r"""\s*(?:'([^']*)'|"([^"]*)")\s*(?:,|$)""")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class HashFiles:
    """``hashFiles('a', 'b')``: the SHA-256 of those files' contents, in that order."""

    paths: tuple[str, ...]


KeyPart = str | HashFiles


def parse_key(template: str) -> tuple[KeyPart, ...]:
    """The parts of a key template; raises ``ValueError`` naming what it cannot read."""
    parts: list[KeyPart] = []
    position = 0
    for match in _EXPR.finditer(template):
        parts.append(template[position : match.start()])
        parts.append(_hash_files(match.group(1)))
        position = match.end()
    parts.append(template[position:])
    return tuple(p for p in parts if p != "")


def _hash_files(expression: str) -> HashFiles:
    call = _HASH_FILES.fullmatch(expression)
    if call is None:
        raise ValueError(f"${{{{{expression}}}}}: only hashFiles('FILE', ...) is known here")
    args = call.group(1)
    paths: list[str] = []
    position = 0
    while position < len(args):
        arg = _ARG.match(args, position)
        if arg is None or arg.end() == position:
            raise ValueError(f"hashFiles({args}): give quoted file names, e.g. 'requirements.txt'")
        paths.append(arg.group(1) if arg.group(1) is not None else arg.group(2))
        position = arg.end()
    if not paths:
        raise ValueError("hashFiles() needs at least one file name")
    return HashFiles(tuple(paths))


def render_key(parts: Sequence[KeyPart], hash_files: Callable[[Sequence[str]], str]) -> str:
    """The key: literal parts as they are, each ``hashFiles`` by ``hash_files``."""
    text = "".join(p if isinstance(p, str) else hash_files(p.paths) for p in parts)
    return safe_key(text)


def safe_key(text: str) -> str:
    """A key usable in an object name: other characters become ``-``; at most 200."""
    return _UNSAFE.sub("-", text).strip("-.")[:200] or "default"
