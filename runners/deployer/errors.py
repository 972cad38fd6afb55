"""The deployer's errors (see ``runners.errors`` for the runner's)."""

from __future__ import annotations

from schemas.errors import InfrastructureError

__all__ = ["DeployerError", "HAProxyUnavailable", "InstanceFailed"]


class DeployerError(InfrastructureError):
    """The deployer could not drive Docker or HAProxy."""


class HAProxyUnavailable(DeployerError):
    """HAProxy's admin socket or master CLI did not answer, or refused a command."""


class InstanceFailed(DeployerError):
    """A container of the environment could not be started."""
