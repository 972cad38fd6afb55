"""The runner's errors, each under the root of :mod:`schemas.errors`::

    DomainError
    ├── ArtifactTooLarge      the stage's artifact is over SLUICE_ARTIFACT_MAX_BYTES
    ├── ImageNotFound         the registry has no such image (a typo in ``image:``)
    └── SecretNotFound        a stage names a secret that was never set
    InfrastructureError
    ├── WorkspaceError        the commit cannot be checked out from the repository
    ├── ContainerError        the Docker engine failed or refused (image pull, create, run)
    ├── ArtifactStoreError    object storage failed (upload, download, archive)
    └── SecretStoreError      PostgreSQL or the encryption key failed

A ``DomainError`` in an attempt fails the stage as deterministic; an ``InfrastructureError``
fails it as infrastructure (the decider may retry it on another runner).
"""

from __future__ import annotations

from schemas.errors import DomainError, InfrastructureError

__all__ = [
    "ArtifactStoreError",
    "ArtifactTooLarge",
    "ContainerError",
    "ImageNotFound",
    "SecretNotFound",
    "SecretStoreError",
    "WorkspaceError",
]


class ArtifactTooLarge(DomainError):
    """The packed artifact is bigger than the limit; declare fewer paths or raise the limit."""


class ImageNotFound(DomainError):
    """The stage's image is not in the registry: the pipeline names it wrong (not retried)."""


class SecretNotFound(DomainError):
    """A stage names a secret that is not set for its pipeline (``sluice secrets set``)."""


class WorkspaceError(InfrastructureError):
    """The source could not be checked out at the job's commit."""


class ContainerError(InfrastructureError):
    """The Docker engine could not pull, create or run a stage's container."""


class ArtifactStoreError(InfrastructureError):
    """Object storage (MinIO) failed while storing or fetching an artifact or a log."""


class SecretStoreError(InfrastructureError):
    """The secret store (PostgreSQL, or the encryption key) could not be used."""
