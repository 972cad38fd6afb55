"""Expiry events on a stage (ArtifactExpired, LogExpired): one rule for the fence and evolve."""

from __future__ import annotations

from orchestrator.domain.events import ArtifactExpired, LogExpired
from orchestrator.domain.state import StageState

__all__ = ["expired_field", "expiry_problem"]

Expiry = ArtifactExpired | LogExpired

# event -> (what the stage recorded, where it keeps the expiries, the key, its name)
_FIELDS: dict[type, tuple[str, str, str, str]] = {
    ArtifactExpired: ("artifacts", "expired_artifacts", "artifact_id", "artifact"),
    LogExpired: ("logs", "expired_logs", "storage_path", "log"),
}


def expiry_problem(stage: StageState, event: Expiry) -> str | None:
    """Why ``event`` cannot expire something of ``stage``: already expired, or never there."""
    recorded, expired, key, what = _FIELDS[type(event)]
    value = getattr(event, key)
    if any(getattr(e, key) == value for e in getattr(stage, expired)):
        return f"duplicate: {what} {value} already expired"
    if not any(getattr(r, key) == value for r in getattr(stage, recorded)):
        return f"stage {stage.name!r} has no {what} {value}"
    return None


def expired_field(event: Expiry) -> str:
    """The ``StageState`` field that keeps events like ``event``."""
    return _FIELDS[type(event)][1]
