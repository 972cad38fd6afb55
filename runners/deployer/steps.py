"""What a strategy phase (blue-green, canary) needs of the deployment it works for.

:class:`~runners.deployer.deployment.Deployment` provides it; the phases see only this
protocol, so the deployment may build them without the two importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.domain.events import DeploymentAborted, DeploymentPromoted, RunEvent
from orchestrator.domain.model import DeploySpec
from orchestrator.domain.rollout import Phase, Start
from runners.deployer.haproxy import FULL_WEIGHT, HAProxy
from runners.deployer.instances import Containers

__all__ = ["Outcome", "Steps"]


@dataclass(frozen=True)
class Outcome:
    """How a deployment ended: ``phase`` and why (``event``: the closing event, when set)."""

    phase: Phase
    reason: str
    event: RunEvent | None = None


class Steps(Protocol):
    """The deployment's state and the steps it can carry out."""

    haproxy: HAProxy
    containers: Containers
    slots: dict[str, str]
    addresses: dict[str, str]
    key: str

    @property
    def spec(self) -> DeploySpec: ...

    @property
    def env(self) -> str: ...

    def report(self, event: RunEvent) -> None: ...

    def prefix(self) -> str: ...

    def start(self, step: Start) -> None: ...

    def admit(self, name: str, weight: int = FULL_WEIGHT) -> None: ...

    def stop(self, name: str) -> None: ...

    def ids(self) -> dict[str, Any]: ...

    def aborted(self) -> DeploymentAborted | None: ...

    def promoted(self, step: int) -> DeploymentPromoted | None: ...

    @property
    def pause_limit_ms(self) -> int: ...

    def base(self) -> dict[str, Any]: ...
