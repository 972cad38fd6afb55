"""One stage of ``pipeline.yaml`` → :class:`RawStage` (a ``StageSpec`` before expansion)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from yaml.nodes import Node, ScalarNode

from orchestrator.domain.caches import parse_key
from orchestrator.domain.deploy_parser import DeployParser
from orchestrator.domain.errors import InvalidValue, MissingKey
from orchestrator.domain.images import image_name_ok
from orchestrator.domain.matrix import Axes
from orchestrator.domain.model import (
    DEFAULT_ARTIFACT_EXPIRY_MS,
    DEFAULT_IMAGE,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT_MS,
    ArtifactSpec,
    CacheSpec,
    DeploySpec,
    ImageBuildSpec,
    Resources,
    RetryPolicy,
    StageSpec,
    WhenRule,
)
from orchestrator.domain.statuses import FailureClass, PipelineEvent, Priority
from orchestrator.domain.yamlnodes import Entry, NodeReader, line_of

__all__ = ["STAGE_KEYS", "RawStage", "StageParser", "stage_name_problem", "variable_name_ok"]

T = TypeVar("T")
STAGE_KEYS = (
    "needs", "image", "script", "variables", "secrets", "artifacts", "reports", "retry",
    "timeout", "resources", "matrix", "when", "priority", "allow_failure", "deploy",
    "network", "build_image", "cache",
)  # fmt: skip
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_REF = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_BAD_STAGE_CHARS = re.compile(r"[/\[\],\n\r\t]")


@dataclass(slots=True)
class RawStage:
    """A stage as written: its spec (needs unexpanded), lines, and matrix axes."""

    spec: StageSpec
    line: int | None
    need_lines: dict[str, int | None] = field(default_factory=dict)
    axes: Axes = ()


def variable_name_ok(name: str) -> bool:
    """Whether ``name`` can be an environment variable."""
    return _VARIABLE.fullmatch(name) is not None


def stage_name_problem(name: str) -> str | None:
    """What a stage name should look like, when it is unusable; else None."""
    if not name.strip():
        return "a non-empty name"
    if _BAD_STAGE_CHARS.search(name) or len(name) > 100:
        return "a name of at most 100 characters without '/', '[', ']', ',' or tabs"
    return None


def _get(entries: Mapping[str, Entry], key: str, read: Callable[[Node], T | None]) -> T | None:
    return read(entries[key][1]) if key in entries else None


class StageParser:
    """Reads one stage's mapping; errors go to the shared :class:`NodeReader`."""

    def __init__(self, reader: NodeReader, name: str, key_node: Node) -> None:
        self.r = reader
        self.name = name
        self.where = f"stage {name!r}"
        self.line = line_of(key_node)
        problem = stage_name_problem(name)
        if problem is not None:
            reader.fail(InvalidValue("stage name", name, problem, line=self.line))

    def at(self, key: str) -> str:
        """How errors name one key of this stage."""
        return f"{self.where} {key}"

    def stage(self, node: Node, pipeline_variables: Mapping[str, str]) -> RawStage | None:
        """The stage, or None when its mapping is unusable."""
        e = self.r.mapping(node, self.where, STAGE_KEYS)
        if e is None:
            return None
        needs = _get(e, "needs", lambda n: self.r.text_items(n, self.at("needs"))) or []
        build = _get(e, "build_image", self._build_image)
        spec = StageSpec(
            name=self.name,
            image=_get(e, "image", lambda n: self.r.text(n, self.at("image"))) or DEFAULT_IMAGE,
            script=self._script(e),
            needs=tuple(dict.fromkeys(n for n, _ in needs)),
            variables={**pipeline_variables, **(self.variables(e.get("variables")) or {})},
            secrets=_get(e, "secrets", self._secrets) or (),
            artifacts=_get(e, "artifacts", self._artifacts),
            junit_report=_get(e, "reports", self._reports),
            retry=_get(e, "retry", self._retry) or DEFAULT_RETRY,
            timeout_ms=_get(e, "timeout", self._timeout) or DEFAULT_TIMEOUT_MS,
            resources=_get(e, "resources", self._resources) or Resources(),
            when=_get(e, "when", self._when) or WhenRule(),
            priority=_get(e, "priority", self._priority),
            allow_failure=bool(_get(e, "allow_failure", self._allow_failure)),
            deploy=_get(e, "deploy", self._deploy),
            network=bool(_get(e, "network", self._network)),
            build_image=build,
            cache=_get(e, "cache", self._cache),
        )
        if build is not None:  # a build needs its base images and packages
            spec = replace(spec, network=True)
        self._check_build_secrets(spec, e)
        axes = _get(e, "matrix", self._matrix) or ()
        return RawStage(spec=spec, line=self.line, need_lines=dict(needs), axes=axes)

    def variables(self, entry: Entry | None, where: str | None = None) -> dict[str, str] | None:
        """A mapping of variable names to values."""
        if entry is None:
            return None
        where = where or self.at("variables")
        values = self.r.text_map(entry[1], where)
        for key in values or {}:
            if not variable_name_ok(key):
                allowed = "a variable name (letters, digits, '_')"
                self.r.fail(InvalidValue(where, key, allowed, line=line_of(entry[1])))
        return values

    def _script(self, entries: Mapping[str, Entry]) -> tuple[str, ...]:
        script = _get(entries, "script", lambda n: self.r.texts(n, self.at("script")))
        if script and "build_image" in entries:
            line = line_of(entries["script"][1])
            allowed = "no script in a build_image stage (it builds the Dockerfile)"
            self.r.fail(InvalidValue(self.at("script"), list(script), allowed, line=line))
        if not script and "deploy" not in entries and "build_image" not in entries:
            line = line_of(entries["script"][1]) if "script" in entries else self.line
            hint = " with at least one command (or a 'deploy' or a 'build_image')"
            self.r.fail(MissingKey(self.where, "script", line=line, hint=hint))
        return script or ()

    def _secrets(self, node: Node) -> tuple[str, ...] | None:
        names = self.r.texts(node, self.at("secrets"))
        for name in names or ():
            if not variable_name_ok(name):
                allowed = "a secret name (letters, digits, '_')"
                self.r.fail(InvalidValue(self.at("secrets"), name, allowed, line=line_of(node)))
        return names

    def _artifacts(self, node: Node) -> ArtifactSpec | None:
        e = self.r.mapping(node, self.at("artifacts"), ("paths", "expire_in"))
        if e is None:
            return None
        paths = _get(e, "paths", lambda n: self.r.texts(n, self.at("artifacts.paths")))
        if not paths:
            self.r.fail(MissingKey(self.at("artifacts"), "paths", line=line_of(node)))
            return None
        expire = _get(e, "expire_in", self._expire_in)
        return ArtifactSpec(paths=paths, expire_in_ms=expire or DEFAULT_ARTIFACT_EXPIRY_MS)

    def _expire_in(self, node: Node) -> int | None:
        return self.r.duration(node, self.at("artifacts.expire_in"), positive=True)

    def _reports(self, node: Node) -> str | None:
        e = self.r.mapping(node, self.at("reports"), ("junit",))
        return _get(e or {}, "junit", lambda n: self.r.text(n, self.at("reports.junit")))

    def _cache(self, node: Node) -> CacheSpec | None:
        e = self.r.mapping(node, self.at("cache"), ("key", "paths"))
        if e is None:
            return None
        key = _get(e, "key", lambda n: self.r.text(n, self.at("cache.key")))
        paths = _get(e, "paths", lambda n: self.r.texts(n, self.at("cache.paths")))
        for missing, value in (("key", key), ("paths", paths)):
            if not value:
                self.r.fail(MissingKey(self.at("cache"), missing, line=line_of(node)))
        try:
            parse_key(key or "")
        except ValueError as problem:
            line = line_of(e["key"][1])
            self.r.fail(InvalidValue(self.at("cache.key"), key, str(problem), line=line))
            return None
        return CacheSpec(key=key, paths=paths) if key and paths else None

    def _network(self, node: Node) -> bool | None:
        return self.r.boolean(node, self.at("network"))

    def _build_image(self, node: Node) -> ImageBuildSpec | None:
        keys = ("context", "dockerfile", "name", "build_args")
        e = self.r.mapping(node, self.at("build_image"), keys)
        if e is None:
            return None
        name = _get(e, "name", lambda n: self.r.text(n, self.at("build_image.name")))
        if not name:
            self.r.fail(MissingKey(self.at("build_image"), "name", line=line_of(node)))
            return None
        if not image_name_ok(name):
            allowed = "an image name: lower case letters, digits and . _ - /"
            line = line_of(e["name"][1])
            self.r.fail(InvalidValue(self.at("build_image.name"), name, allowed, line=line))
        where = self.at("build_image.build_args")
        args = _get(e, "build_args", lambda n: self.r.text_map(n, where)) or {}
        default = ImageBuildSpec(name=name)
        return ImageBuildSpec(
            context=self._relative(e, "context") or default.context,
            dockerfile=self._relative(e, "dockerfile") or default.dockerfile,
            name=name,
            build_args=args,
        )

    def _check_build_secrets(self, spec: StageSpec, e: Mapping[str, Entry]) -> None:
        """A build arg may use ``${{ secrets.NAME }}`` only for a secret the stage declares."""
        build = spec.build_image
        for value in (build.build_args if build else {}).values():
            for name in _SECRET_REF.findall(value):
                if name not in spec.secrets:
                    allowed = f"a secret the stage declares under secrets: (add {name})"
                    line = line_of(e["build_image"][1])
                    self.r.fail(
                        InvalidValue(self.at("build_image.build_args"), name, allowed, line=line)
                    )

    def _relative(self, e: Mapping[str, Entry], key: str) -> str | None:
        where = self.at(f"build_image.{key}")
        path = _get(e, key, lambda n: self.r.text(n, where))
        if path is not None and (path.startswith("/") or ".." in path.split("/")):
            allowed = "a path inside the repository (relative, without '..')"
            self.r.fail(InvalidValue(where, path, allowed, line=line_of(e[key][1])))
            return None
        return path

    def _timeout(self, node: Node) -> int | None:
        return self.r.duration(node, self.at("timeout"), positive=True)

    def _priority(self, node: Node) -> Priority | None:
        return self.r.choice(node, self.at("priority"), Priority)

    def _allow_failure(self, node: Node) -> bool | None:
        return self.r.boolean(node, self.at("allow_failure"))

    def _resources(self, node: Node) -> Resources | None:
        e = self.r.mapping(node, self.at("resources"), ("cpus", "memory"))
        if e is None:
            return None
        cpus = _get(
            e, "cpus", lambda n: self.r.number(n, self.at("resources.cpus"), 0, strict=True)
        )
        memory = _get(e, "memory", lambda n: self.r.size(n, self.at("resources.memory")))
        default = Resources()
        return Resources(cpus=cpus or default.cpus, memory_bytes=memory or default.memory_bytes)

    def _when(self, node: Node) -> WhenRule | None:
        if isinstance(node, ScalarNode) and node.value == "manual":  # GitLab's spelling
            return WhenRule(manual=True)
        keys = ("branch", "branches", "manual", "event", "events", "tag", "tags")
        e = self.r.mapping(node, self.at("when"), keys)
        if e is None:
            return None
        manual = _get(e, "manual", lambda n: self.r.boolean(n, self.at("when.manual")))
        return WhenRule(
            branches=self._patterns(e, "branch", "branches"),
            manual=bool(manual),
            events=self._events(e),
            tags=self._patterns(e, "tag", "tags"),
        )

    def _patterns(self, e: Mapping[str, Entry], one: str, many: str) -> tuple[str, ...]:
        """``when.<one>`` and ``when.<many>`` (each a text or a list), in order, once each."""
        found: list[str] = []
        for key in (one, many):
            if key in e:
                found += self.r.texts(e[key][1], self.at(f"when.{key}")) or ()
        return tuple(dict.fromkeys(found))

    def _events(self, e: Mapping[str, Entry]) -> tuple[PipelineEvent, ...]:
        found: list[PipelineEvent] = []
        for key in ("event", "events"):
            where = self.at(f"when.{key}")
            items = self.r.text_items(e[key][1], where) if key in e else None
            for text, line in items or []:
                try:
                    found.append(PipelineEvent(text))
                except ValueError:
                    allowed = "branch, tag or merge_request"
                    self.r.fail(InvalidValue(where, text, allowed, line=line))
        return tuple(dict.fromkeys(found))

    def _deploy(self, node: Node) -> DeploySpec | None:
        return DeployParser(self.r, self.where).parse(node)

    def _retry(self, node: Node) -> RetryPolicy | None:
        where = self.at("retry")
        if getattr(node, "tag", "").endswith(":int"):  # GitLab's shorthand `retry: 2`
            count = self.r.integer(node, f"{where}.max", 0, 10)
            return None if count is None else RetryPolicy(max=count)
        e = self.r.mapping(node, where, ("max", "when", "backoff"))
        if e is None:
            return None
        count = _get(e, "max", lambda n: self.r.integer(n, f"{where}.max", 0, 10))
        when = _get(e, "when", self._retry_when)
        backoff = _get(e, "backoff", self._backoff) or (None, None, None)
        d = DEFAULT_RETRY
        return RetryPolicy(
            max=d.max if count is None else count,
            when=d.when if when is None else when,
            backoff_base_ms=d.backoff_base_ms if backoff[0] is None else backoff[0],
            backoff_factor=backoff[1] or d.backoff_factor,
            backoff_cap_ms=backoff[2] or d.backoff_cap_ms,
        )

    def _retry_when(self, node: Node) -> tuple[FailureClass, ...] | None:
        where = self.at("retry.when")
        items = self.r.text_items(node, where)
        if items is None:
            return None
        classes = []
        for text, line in items:
            try:
                classes.append(FailureClass(text))
            except ValueError:
                allowed = "infrastructure, flaky or deterministic"
                self.r.fail(InvalidValue(where, text, allowed, line=line))
        return tuple(dict.fromkeys(classes))

    def _backoff(self, node: Node) -> tuple[int | None, float | None, int | None] | None:
        where = self.at("retry.backoff")
        e = self.r.mapping(node, where, ("base", "factor", "cap"))
        if e is None:
            return None
        base = _get(e, "base", lambda n: self.r.duration(n, f"{where}.base", positive=False))
        factor = _get(e, "factor", lambda n: self.r.number(n, f"{where}.factor", 1, strict=False))
        cap = _get(e, "cap", lambda n: self.r.duration(n, f"{where}.cap", positive=True))
        limit = DEFAULT_RETRY.backoff_cap_ms if cap is None else cap
        if base is not None and base > limit:
            allowed = f"at most the cap ({limit} ms)"
            self.r.fail(InvalidValue(f"{where}.base", base, allowed, line=line_of(node)))
        return base, factor, cap

    def _matrix(self, node: Node) -> Axes | None:
        e = self.r.mapping(node, self.at("matrix"))
        if e is None:
            return None
        if not e:
            self.r.fail(
                InvalidValue(self.at("matrix"), {}, "at least one variable", line=line_of(node))
            )
        axes = []
        for key, (key_node, values_node) in e.items():
            where = f"{self.at('matrix')}.{key}"
            values = self.r.texts(values_node, where)
            if not variable_name_ok(key):
                self.r.fail(
                    InvalidValue(self.at("matrix"), key, "a variable name", line=line_of(key_node))
                )
            elif values is not None and not values:
                self.r.fail(
                    InvalidValue(where, [], "at least one value", line=line_of(values_node))
                )
            elif values:
                axes.append((key, values))
        return tuple(axes)
