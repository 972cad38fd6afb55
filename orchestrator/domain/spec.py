"""``pipeline.yaml`` → :class:`PipelineSpec`: parse, validate like a compiler, expand.

Every problem found is raised together as one :class:`PipelineInvalid`, each a typed
:class:`PipelineError` with its line. The result's ``stages`` is the resolved snapshot
that ``RunCreated.stages`` carries: declaration order, matrices expanded, pipeline
variables merged into each stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from yaml.nodes import Node

from orchestrator.domain.dag import Dag, check_graph, compile_dag
from orchestrator.domain.errors import (
    DuplicateStage,
    EmptyPipeline,
    InvalidValue,
    MatrixTooLarge,
    MissingKey,
    PipelineError,
    PipelineInvalid,
)
from orchestrator.domain.images import check_image_refs
from orchestrator.domain.matrix import MATRIX_CAP, combinations, count, expand, expanded_name
from orchestrator.domain.model import StageSpec
from orchestrator.domain.stage_parser import RawStage, StageParser, variable_name_ok
from orchestrator.domain.statuses import Priority
from orchestrator.domain.yamlnodes import Entry, NodeReader, compose, line_of

__all__ = ["PipelineSpec", "parse_pipeline"]

_TOP_KEYS = ("name", "priority", "variables", "stages")


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSpec:
    """A valid pipeline; ``stages`` is the snapshot ``RunCreated.stages`` carries."""

    name: str
    priority: Priority | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    stages: tuple[StageSpec, ...]
    dag: Dag


def parse_pipeline(text: str) -> PipelineSpec:
    """Parse and validate a pipeline file; raises :class:`PipelineInvalid` with every error."""
    root = compose(text)
    if root is None:
        raise PipelineInvalid([EmptyPipeline(line=1)])
    reader = NodeReader()
    pipeline = _pipeline(reader, root)
    if reader.errors or pipeline is None:
        raise PipelineInvalid(reader.errors or [EmptyPipeline()])
    return pipeline


def _pipeline(reader: NodeReader, root: Node) -> PipelineSpec | None:
    top = reader.mapping(root, "the pipeline", _TOP_KEYS)
    if top is None:
        return None
    name = _name(reader, top, root)
    priority = None
    if "priority" in top:
        priority = reader.choice(top["priority"][1], "priority", Priority)
    variables = _variables(reader, top.get("variables"))
    raws = _stages(reader, top, root, variables)
    stages = _resolve(raws, reader)
    if reader.errors or name is None or not stages:
        return None
    dag = compile_dag(stages)
    lines = {s.name: _line_of_stage(s, raws) for s in stages}
    ancestors = {s: set(dag.upstream[s]) for s in dag.order}
    for error in check_image_refs(stages, ancestors, lines):
        reader.fail(error)
    if reader.errors:
        return None
    return PipelineSpec(name=name, priority=priority, variables=variables, stages=stages, dag=dag)


def _line_of_stage(stage: StageSpec, raws: list[RawStage]) -> int | None:
    base = stage.name.split(" [", 1)[0] if stage.matrix else stage.name
    return next((raw.line for raw in raws if raw.spec.name == base), None)


def _name(reader: NodeReader, top: Mapping[str, Entry], root: Node) -> str | None:
    if "name" not in top:
        reader.fail(MissingKey("the pipeline", "name", line=line_of(root)))
        return None
    node = top["name"][1]
    name = reader.text(node, "name")
    if name is not None and not name.strip():
        reader.fail(InvalidValue("name", name, "a non-empty name", line=line_of(node)))
        return None
    return name


def _variables(reader: NodeReader, entry: Entry | None) -> dict[str, str]:
    if entry is None:
        return {}
    values = reader.text_map(entry[1], "variables") or {}
    for key in values:
        if not variable_name_ok(key):
            allowed = "a variable name (letters, digits, '_')"
            reader.fail(InvalidValue("variables", key, allowed, line=line_of(entry[1])))
    return values


def _stages(
    reader: NodeReader, top: Mapping[str, Entry], root: Node, variables: Mapping[str, str]
) -> list[RawStage]:
    if "stages" not in top:
        reader.fail(EmptyPipeline(line=line_of(root)))
        return []
    node = top["stages"][1]
    entries = reader.mapping(node, "stages", on_duplicate=_duplicate_stage)
    if entries is not None and not entries:
        reader.fail(EmptyPipeline(line=line_of(node)))
    raws = []
    for name, (key_node, value) in (entries or {}).items():
        raw = StageParser(reader, name, key_node).stage(value, variables)
        if raw is not None:
            raws.append(raw)
    return raws


def _duplicate_stage(name: str, node: Node, first: Node) -> PipelineError:
    return DuplicateStage(name, line=line_of(node), first_line=line_of(first))


def _resolve(raws: list[RawStage], reader: NodeReader) -> tuple[StageSpec, ...]:
    """Check the graph on the names as written (so errors use them), then expand matrices."""
    alias = _aliases(raws, reader)
    order = [raw.spec.name for raw in raws]
    needs = {raw.spec.name: [alias.get(n, n) for n in raw.spec.needs] for raw in raws}
    need_lines = {
        (raw.spec.name, alias.get(need, need)): line
        for raw in raws
        for need, line in raw.need_lines.items()
        if line is not None
    }
    stage_lines = {raw.spec.name: raw.line for raw in raws if raw.line is not None}
    for error in check_graph(order, needs, stage_lines=stage_lines, need_lines=need_lines):
        reader.fail(error)
    if reader.errors:
        return ()
    stages = expand([(raw.spec, raw.axes) for raw in raws])
    _check_unique(stages, raws, reader)
    return () if reader.errors else stages


def _aliases(raws: list[RawStage], reader: NodeReader) -> dict[str, str]:
    """Expanded name → stage name; a matrix over the cap is reported and not expanded."""
    alias: dict[str, str] = {}
    for raw in raws:
        total = count(raw.axes)
        if raw.axes and total > MATRIX_CAP:
            reader.fail(MatrixTooLarge(raw.spec.name, total, MATRIX_CAP, line=raw.line))
            raw.axes = ()
        for combination in combinations(raw.axes) if raw.axes else ():
            alias[expanded_name(raw.spec.name, combination)] = raw.spec.name
    return alias


def _check_unique(stages: tuple[StageSpec, ...], raws: list[RawStage], reader: NodeReader) -> None:
    """Expansions can collide (``python: ["3.10", "3.10"]``)."""
    lines = {raw.spec.name: raw.line for raw in raws}
    first: dict[str, int | None] = {}
    for stage in stages:
        line = lines.get(stage.name.split(" [", 1)[0] if stage.matrix else stage.name)
        if stage.name in first:
            reader.fail(DuplicateStage(stage.name, line=line, first_line=first[stage.name]))
        first.setdefault(stage.name, line)
