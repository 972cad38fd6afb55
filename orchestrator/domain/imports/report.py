"""What an import could not carry over, line by line, and why a file is refused."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestrator.domain.errors import PipelineError

__all__ = ["Finding", "ImportRefused", "Severity", "render"]


class Severity(StrEnum):
    """``dropped``: the file asks for something the import does not do (a run of it would
    not be the same); ``changed``: carried over with a difference worth knowing."""

    DROPPED = "dropped"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One line of the import report."""

    line: int
    severity: Severity
    message: str


class ImportRefused(PipelineError):
    """The file cannot be imported at all (not YAML, or a CI system we do not read)."""


def render(path: str, findings: tuple[Finding, ...]) -> str:
    """``path:LINE: severity: message``, one per finding, in line order."""
    return "\n".join(f"{path}:{f.line}: {f.severity}: {f.message}" for f in sorted(findings))
