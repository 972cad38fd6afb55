"""The layers hold: imports point down, never in a circle, and never hide inside a function
without a comment saying why.

Read from the source (AST), not by importing it. The layers, lowest first (STYLE.md 17):

    0  schemas                                  Avro, codec, settings, errors, Kafka/PG plumbing
    1  orchestrator.domain, orchestrator.wire   the pure core and its converters
    2  projections | runners | orchestrator.submit   processors, job runners, the write edge
    3  orchestrator.api | orchestrator.client   the HTTP API; the CLI's HTTP client
    4  orchestrator.ui                          the pages, mounted on the API (create_web_app)
    5  orchestrator.cli, orchestrator.demo      the composition roots people run

A module may import its own component and any component of a lower layer; components of one
layer (``projections`` and ``runners``, say) do not import each other. ``orchestrator.submit``
(register a pipeline, request a run: one record appended and acknowledged) is an edge
beside the processors, used by the API, the CLI and the demo; ``orchestrator.client`` speaks
HTTP to the API without importing it; ``orchestrator.demo`` is run by the CLI. When a rule
breaks, the failure prints the layer graph that was checked, each arrow with its count.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "orchestrator", "projections", "runners")

# component -> (layer, module prefixes), most specific prefix first when looked up
COMPONENTS: dict[str, tuple[int, tuple[str, ...]]] = {
    "schemas": (0, ("schemas",)),
    "domain": (1, ("orchestrator.domain", "orchestrator.wire")),
    "projections": (2, ("projections",)),
    "runners": (2, ("runners",)),
    "submit": (2, ("orchestrator.submit",)),
    "api": (3, ("orchestrator.api",)),
    "client": (3, ("orchestrator.client",)),
    "ui": (4, ("orchestrator.ui",)),
    "cli": (5, ("orchestrator.cli", "orchestrator.demo", "orchestrator")),
}


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module
    line: int
    in_function: bool
    explained: bool  # a comment says why (only asked of imports inside functions)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def component_of(module: str) -> str:
    """The component a module belongs to (the longest matching prefix)."""
    best, length = "", -1
    for name, (_, prefixes) in COMPONENTS.items():
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > length:
                best, length = name, len(prefix)
    return best


def _resolve(node: ast.ImportFrom | ast.Import, source: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:  # relative: from the importing package
        package = source.split(".")[: -node.level or None]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        full = f"{base}.{alias.name}"
        yield full if full in MODULES else base


def _explained(lines: list[str], line: int) -> bool:
    """A comment beyond the bare noqa marker, on this line or on a line above it in the same
    block of imports (blank lines and comment lines included)."""
    index = line - 1
    while index >= 0:
        text = lines[index]
        comment = text.partition("#")[2].replace("noqa: PLC0415", "").strip(" ()")
        if comment:
            return True
        stripped = text.strip()
        in_block = not stripped or stripped.startswith(("from ", "import ", ")", "#"))
        if not (in_block or stripped.endswith(",")):
            return False
        index -= 1
    return False


def imports() -> list[Import]:
    """Every import of Sluice's own modules, where it stands, and whether it is explained."""
    found: list[Import] = []
    for module, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        functions = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        inner = {id(n) for f in functions for n in ast.walk(f)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            in_function = id(node) in inner
            explained = _explained(lines, node.lineno) if in_function else True
            for target in _resolve(node, module):
                if target.split(".")[0] in PACKAGES:
                    found.append(Import(module, target, node.lineno, in_function, explained))
    return found


IMPORTS = imports()


def _graph(broken: set[tuple[str, str]]) -> str:
    arrows = Counter((component_of(i.source), component_of(i.target)) for i in IMPORTS)
    lines = ["layers checked (lowest first):"]
    for name, (layer, prefixes) in sorted(COMPONENTS.items(), key=lambda c: c[1][0]):
        lines.append(f"  {layer} {name:<12} {', '.join(prefixes)}")
    lines.append("arrows found (importer -> imported: count):")
    for (a, b), count in sorted(arrows.items()):
        if a != b:
            mark = "   <-- BREAKS THE RULE" if (a, b) in broken else ""
            lines.append(f"  {a} -> {b}: {count}{mark}")
    return "\n".join(lines)


def _allowed(source: str, target: str) -> bool:
    a, b = component_of(source), component_of(target)
    return a == b or COMPONENTS[b][0] < COMPONENTS[a][0]


def test_every_import_points_down_the_layers() -> None:
    wrong = [i for i in IMPORTS if not _allowed(i.source, i.target)]
    broken = {(component_of(i.source), component_of(i.target)) for i in wrong}
    shown = "\n".join(f"  {i.source}:{i.line} imports {i.target}" for i in wrong)
    assert not wrong, f"imports against the layers:\n{shown}\n{_graph(broken)}"


def _cycle_from(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    path: list[str] = [start]
    seen: set[str] = set()

    def walk(node: str) -> list[str] | None:
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt in seen:
                continue
            seen.add(nxt)
            path.append(nxt)
            found = walk(nxt)
            if found:
                return found
            path.pop()
        return None

    return walk(start)


def test_no_modules_import_each_other_in_a_circle() -> None:
    """Counting every import: inside functions and under TYPE_CHECKING too."""
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.source != i.target and not i.target.startswith(i.source + "."):
            edges.setdefault(i.source, set()).add(i.target)
    cycles = {tuple(c) for m in sorted(edges) if (c := _cycle_from(m, edges))}
    shown = "\n".join("  " + " -> ".join(c) for c in sorted(cycles))
    assert not cycles, f"import cycles:\n{shown}\n{_graph(set())}"


def test_an_import_inside_a_function_says_why() -> None:
    bare = [i for i in IMPORTS if i.in_function and not i.explained]
    shown = "\n".join(f"  {i.source}:{i.line} imports {i.target}" for i in bare)
    assert not bare, f"imports inside functions without a comment saying why:\n{shown}"


def test_the_rules_see_a_breaking_import() -> None:
    """The checker itself: an arrow up the layers is refused, one down is allowed."""
    assert not _allowed("schemas.codec", "orchestrator.domain.events")
    assert not _allowed("projections.runner", "orchestrator.api.db")
    assert not _allowed("projections.notifier", "runners.secrets")
    assert _allowed("orchestrator.api.trigger", "projections.runner")
    assert _allowed("orchestrator.cli.gc", "orchestrator.api.retention")
    assert component_of("orchestrator.wire") == "domain"
    assert component_of("orchestrator.demo") == "cli"
