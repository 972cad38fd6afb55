"""The root of Sluice's error tree.

Every error Sluice raises on purpose derives from :class:`SluiceError`::

    SluiceError                       (retryable: says whether trying again may help)
    ├── DomainError                   bad input or an illegal request; retrying won't help
    │   ├── schemas: SchemaError, MalformedMessage, UnknownSchema
    │   └── orchestrator.domain: PipelineError (and its kinds), InvalidTransition, ...
    └── InfrastructureError           a service is unreachable or failed; may be retried
        └── each edge's own kinds (event log, run store, containers, artifact store)

It lives in ``schemas`` because that package sits below every other one and imports
nothing of ours. Driver exceptions are translated at the boundary with ``raise ... from e``.
"""

from __future__ import annotations

__all__ = ["DomainError", "InfrastructureError", "SluiceError"]


class SluiceError(Exception):
    """Base of every error Sluice raises on purpose."""

    retryable: bool = False


class DomainError(SluiceError):
    """The input or the request is wrong; the message says how to fix it."""

    retryable = False


class InfrastructureError(SluiceError):
    """A real service failed or could not be reached; trying again later may succeed."""

    retryable = True
