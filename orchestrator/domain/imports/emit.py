"""The ``pipeline.yaml`` an import produces, and helpers the importers share."""

from __future__ import annotations

import re
from typing import Any

import yaml

from orchestrator.domain.imports.report import Finding, Severity

__all__ = ["Notes", "dump", "env_name_ok", "stage_name"]

_BAD_STAGE = re.compile(r"[/\[\],\n\r\t]")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Notes:
    """Collects the findings of one import."""

    def __init__(self) -> None:
        """Start with none."""
        self.found: list[Finding] = []

    def dropped(self, line: int, message: str) -> None:
        """The file asks for something the import does not carry over."""
        self.found.append(Finding(line, Severity.DROPPED, message))

    def changed(self, line: int, message: str) -> None:
        """Carried over with a difference."""
        self.found.append(Finding(line, Severity.CHANGED, message))


def stage_name(name: str) -> str:
    """A Sluice stage name for a job name (``/ [ ] ,`` and whitespace become ``-``)."""
    return _BAD_STAGE.sub("-", name).strip() or "job"


def env_name_ok(name: str) -> bool:
    """Whether ``name`` can be an environment variable."""
    return _ENV.fullmatch(name) is not None


def dump(name: str, variables: dict[str, str], stages: dict[str, dict[str, Any]]) -> str:
    """The pipeline file: ``name``, ``variables`` (when any) and ``stages`` in order."""
    document: dict[str, Any] = {"name": name}
    if variables:
        document["variables"] = variables
    document["stages"] = stages
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Writes shared lists out in full: an imported file has no anchors to read past."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
