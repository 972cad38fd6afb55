"""Importing pipelines from other CI systems: GitLab CI and GitHub Actions.

:func:`import_pipeline` reads a ``.gitlab-ci.yml`` or a workflow file and returns the
equivalent Sluice ``pipeline.yaml`` text with a line-numbered report of everything it could
not carry over (:class:`Finding`, ``dropped`` or ``changed``), never leaving a step out in
silence. Woodpecker and Buildkite files, and text that is not YAML, raise
:class:`ImportRefused` with a line. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain.imports import github, gitlab
from orchestrator.domain.imports.loader import LineMap, load
from orchestrator.domain.imports.report import Finding, ImportRefused, Severity, render

__all__ = [
    "Finding",
    "ImportRefused",
    "Imported",
    "Severity",
    "import_pipeline",
    "importable",
    "render",
]


@dataclass(frozen=True, slots=True)
class Imported:
    """The produced ``pipeline.yaml`` and the report of what did not carry over."""

    source: str  # "gitlab" or "github"
    pipeline_yaml: str
    findings: tuple[Finding, ...]

    @property
    def dropped(self) -> tuple[Finding, ...]:
        """Findings of things the file asks for that the produced pipeline does not do."""
        return tuple(f for f in self.findings if f.severity is Severity.DROPPED)


def importable(path: str) -> bool:
    """Whether a pipeline's ``config_path`` names a file to import rather than a Sluice one."""
    name = path.rsplit("/", 1)[-1]
    return name.endswith((".gitlab-ci.yml", ".gitlab-ci.yaml")) or ".github/workflows/" in path


def import_pipeline(text: str, *, name: str) -> Imported:
    """Convert ``text``; ``name`` names the pipeline when the file does not."""
    doc = load(text)
    if not isinstance(doc, LineMap):
        raise ImportRefused("the file is not a YAML mapping of jobs", line=1)
    kind = _kind(doc)
    convert = gitlab.convert if kind == "gitlab" else github.convert
    produced, notes = convert(doc, name)
    return Imported(kind, produced, tuple(sorted(set(notes.found))))


def _kind(doc: LineMap) -> str:
    if isinstance(doc.get("jobs"), dict) and (True in doc or "on" in doc):
        return "github"
    steps = doc.get("steps")
    if isinstance(steps, list) or "agents" in doc:
        raise ImportRefused(
            "a Buildkite pipeline (a list of steps): not imported; "
            "only GitLab CI and GitHub Actions files are",
            line=doc.lines.get("steps", 1),
        )
    if isinstance(steps, dict) or "when" in doc or "depends_on" in doc or "pipeline" in doc:
        raise ImportRefused(
            "a Woodpecker pipeline: not imported; only GitLab CI and GitHub Actions files are",
            line=doc.lines.get("steps", 1),
        )
    if (
        any(
            isinstance(v, dict) and ("script" in v or "extends" in v or "trigger" in v)
            for v in doc.values()
        )
        or "stages" in doc
    ):
        return "gitlab"
    raise ImportRefused(
        "neither a GitLab CI file (jobs with script:) "
        "nor a GitHub Actions workflow (on: and jobs:)",
        line=1,
    )
