"""The ``deploy:`` key of a stage → :class:`DeploySpec`, with the checks that tie keys together.

Every key is read as the other stage keys are (errors carry line numbers and are collected,
not raised). What the deployer cannot carry out yet is an error here, never a green no-op
(invariant 8): ``analysis.max_p95_ms`` is refused (HAProxy keeps no per-server percentile),
and ``image`` is required: ``${{ images.NAME }}`` ships what a needed ``build_image`` stage
built, any other reference is shipped as written (a run may build several images, so none is
picked for the user).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TypeVar

from yaml.nodes import Node

from orchestrator.domain.errors import ConflictingKeys, InvalidValue, MissingKey
from orchestrator.domain.model import MANUAL_PAUSE, CanaryAnalysis, CanaryStep, DeploySpec
from orchestrator.domain.yamlnodes import Entry, NodeReader, line_of

__all__ = [
    "DEPLOY_KEYS",
    "ENVIRONMENT_NAME",
    "MAX_REPLICAS",
    "MAX_SURGE",
    "DeployParser",
    "Strategy",
]

T = TypeVar("T")
DEPLOY_KEYS = (
    "environment", "image", "replicas", "port", "strategy", "health_check", "max_surge",
    "max_unavailable", "steps", "analysis", "scale_down_delay",
)  # fmt: skip
MAX_REPLICAS = 8  # an environment's backend has MAX_REPLICAS + MAX_SURGE server slots
MAX_SURGE = 2
CARRIED_OUT = ("rolling", "canary", "blue-green")  # strategies the deployer runs today
ENVIRONMENT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_ONLY = {"max_surge": "rolling", "max_unavailable": "rolling", "steps": "canary"}
_ONLY |= {"analysis": "canary", "scale_down_delay": "blue-green"}


class Strategy(StrEnum):
    """How a deployment replaces the running instances."""

    ROLLING = "rolling"
    BLUE_GREEN = "blue-green"
    CANARY = "canary"


def _get(entries: Mapping[str, Entry], key: str, read: Callable[[Node], T | None]) -> T | None:
    return read(entries[key][1]) if key in entries else None


class DeployParser:
    """Reads one stage's ``deploy:`` mapping; errors go to the shared :class:`NodeReader`."""

    def __init__(self, reader: NodeReader, where: str) -> None:
        self.r = reader
        self.where = f"{where} deploy"

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def parse(self, node: Node) -> DeploySpec | None:
        """The deploy spec, or None when the mapping is unusable."""
        e = self.r.mapping(node, self.where, DEPLOY_KEYS)
        if e is None:
            return None
        strategy = _get(e, "strategy", self._strategy) or Strategy.ROLLING
        self._combinations(e, strategy)
        environment = self._required(e, node, "environment", self._environment)
        image = self._required(e, node, "image", lambda n: self.r.text(n, self.at("image")))
        if environment is None or image is None:
            return None
        spec = DeploySpec(environment=environment, strategy=str(strategy), image=image)
        return self._rest(e, spec)

    def _rest(self, e: Mapping[str, Entry], spec: DeploySpec) -> DeploySpec:
        health = _get(e, "health_check", self._health_check) or {}
        replicas = _get(e, "replicas", lambda n: self.r.integer(n, self.at("replicas"), 1, 8))
        port = _get(e, "port", lambda n: self.r.integer(n, self.at("port"), 1, 65535))
        surge = _get(e, "max_surge", lambda n: self._int(n, "max_surge", 0, MAX_SURGE))
        unavailable = _get(e, "max_unavailable", self._max_unavailable)
        delay = _get(e, "scale_down_delay", lambda n: self._duration(n, "scale_down_delay"))
        d = DeploySpec(environment="")
        result = DeploySpec(
            environment=spec.environment,
            strategy=spec.strategy,
            image=spec.image,
            replicas=replicas or d.replicas,
            port=port or d.port,
            health_check_path=health.get("path"),  # type: ignore[arg-type]
            health_check_interval_ms=health.get("interval") or d.health_check_interval_ms,  # type: ignore[arg-type]
            healthy_deadline_ms=health.get("healthy_deadline") or d.healthy_deadline_ms,  # type: ignore[arg-type]
            max_surge=d.max_surge if surge is None else surge,
            max_unavailable=d.max_unavailable if unavailable is None else unavailable,
            canary_steps=_get(e, "steps", self._steps) or (),
            analysis=_get(e, "analysis", self._analysis),
            scale_down_delay_ms=delay or d.scale_down_delay_ms,
        )
        self._rolling_bounds(e, result)
        return result

    def _required(
        self, e: Mapping[str, Entry], node: Node, key: str, read: Callable[[Node], T | None]
    ) -> T | None:
        if key not in e:
            hint = {
                "image": " (the image to run: ${{ images.NAME }} for one a build_image stage "
                "this stage needs built, or any image reference)"
            }.get(key, "")
            self.r.fail(MissingKey(self.where, key, line=line_of(node), hint=hint))
            return None
        return read(e[key][1])

    def _environment(self, node: Node) -> str | None:
        name = self.r.text(node, self.at("environment"))
        if name is not None and not ENVIRONMENT_NAME.fullmatch(name):
            allowed = "a name of lower-case letters, digits and '-' (at most 40)"
            self.r.fail(InvalidValue(self.at("environment"), name, allowed, line=line_of(node)))
            return None
        return name

    def _strategy(self, node: Node) -> Strategy | None:
        strategy = self.r.choice(node, self.at("strategy"), Strategy)
        if strategy is not None and strategy not in CARRIED_OUT:
            allowed = f"one of {CARRIED_OUT} ({strategy} is not carried out by the deployer yet)"
            self.r.fail(
                InvalidValue(self.at("strategy"), str(strategy), allowed, line=line_of(node))
            )
        return strategy

    def _combinations(self, e: Mapping[str, Entry], strategy: Strategy) -> None:
        for key, only in _ONLY.items():
            if key in e and strategy != only:
                problem = f"{key!r} applies only to strategy {only!r}, not {str(strategy)!r}"
                self.r.fail(ConflictingKeys(self.where, problem, line=line_of(e[key][0])))
        if strategy == Strategy.CANARY and "steps" not in e:
            self.r.fail(MissingKey(self.where, "steps", line=line_of(e["strategy"][1])))

    def _rolling_bounds(self, e: Mapping[str, Entry], spec: DeploySpec) -> None:
        if spec.max_surge == 0 and spec.max_unavailable == 0:
            line = line_of(e["max_surge"][0]) if "max_surge" in e else None
            problem = "max_surge and max_unavailable cannot both be 0 (nothing could move)"
            self.r.fail(ConflictingKeys(self.where, problem, line=line))
        if spec.max_unavailable >= spec.replicas and "max_unavailable" in e:
            problem = f"max_unavailable must stay below replicas ({spec.replicas})"
            self.r.fail(ConflictingKeys(self.where, problem, line=line_of(e["max_unavailable"][0])))

    def _max_unavailable(self, node: Node) -> int | None:
        return self._int(node, "max_unavailable", 0, MAX_REPLICAS - 1)

    def _int(self, node: Node, key: str, low: int, high: int) -> int | None:
        return self.r.integer(node, self.at(key), low, high)

    def _duration(self, node: Node, key: str) -> int | None:
        return self.r.duration(node, self.at(key), positive=True)

    def _health_check(self, node: Node) -> dict[str, object] | None:
        keys = ("path", "interval", "healthy_deadline")
        e = self.r.mapping(node, self.at("health_check"), keys)
        if e is None:
            return None
        path = _get(e, "path", lambda n: self.r.text(n, self.at("health_check.path")))
        if path is not None and not path.startswith("/"):
            where = self.at("health_check.path")
            self.r.fail(InvalidValue(where, path, "a path starting with '/'", line=line_of(node)))
        return {
            "path": path,
            "interval": _get(e, "interval", lambda n: self._duration(n, "health_check.interval")),
            "healthy_deadline": _get(
                e, "healthy_deadline", lambda n: self._duration(n, "health_check.healthy_deadline")
            ),
        }

    def _steps(self, node: Node) -> tuple[CanaryStep, ...] | None:
        items = getattr(node, "value", None)
        if not isinstance(items, list) or not items:
            self.r.wrong(node, self.at("steps"), "a non-empty list of {weight, pause}")
            return None
        steps = [self._step(item) for item in items]
        found = tuple(s for s in steps if s is not None)
        weights = [s.weight for s in found]
        if weights != sorted(weights):
            problem = f"step weights must not go down, got {weights}"
            self.r.fail(ConflictingKeys(self.at("steps"), problem, line=line_of(node)))
        return found

    def _step(self, node: Node) -> CanaryStep | None:
        e = self.r.mapping(node, f"each item of {self.at('steps')}", ("weight", "pause"))
        if e is None:
            return None
        weight = _get(e, "weight", lambda n: self._int(n, "steps.weight", 1, 100))
        pause = _get(e, "pause", self._pause)
        if weight is None:
            self.r.fail(MissingKey(self.at("steps"), "weight", line=line_of(node)))
            return None
        return CanaryStep(weight=weight, pause_ms=pause or 0)

    def _pause(self, node: Node) -> int | None:
        """A step's pause: a duration, or ``manual`` (wait for a person: promote or abort)."""
        if getattr(node, "value", None) == "manual":
            return MANUAL_PAUSE
        return self._duration(node, "steps.pause")

    def _analysis(self, node: Node) -> CanaryAnalysis | None:
        keys = ("max_error_rate", "max_p95_ms", "min_requests")
        e = self.r.mapping(node, self.at("analysis"), keys)
        if e is None:
            return None
        rate = _get(e, "max_error_rate", self._rate)
        if "max_p95_ms" in e:
            problem = (
                "max_p95_ms is not carried out: HAProxy 2.6 keeps no per-server percentile "
                "(judge the canary by max_error_rate)"
            )
            self.r.fail(
                ConflictingKeys(self.at("analysis"), problem, line=line_of(e["max_p95_ms"][0]))
            )
        least = _get(e, "min_requests", lambda n: self._int(n, "analysis.min_requests", 1, 10**9))
        d = CanaryAnalysis()
        return CanaryAnalysis(
            max_error_rate=d.max_error_rate if rate is None else rate,
            min_requests=least or d.min_requests,
        )

    def _rate(self, node: Node) -> float | None:
        rate = self.r.number(node, self.at("analysis.max_error_rate"), 0, strict=False)
        if rate is not None and rate > 1:
            allowed = "a fraction from 0 to 1"
            self.r.fail(
                InvalidValue(self.at("analysis.max_error_rate"), rate, allowed, line=line_of(node))
            )
            return None
        return rate
