"""Errors of the pure orchestration core.

Every one is a :class:`~schemas.errors.DomainError` (retrying will not help)::

    DomainError
    ├── PipelineError                 one problem in a pipeline file; ``line`` when known
    │   ├── YamlSyntaxError           the file is not YAML
    │   ├── EmptyPipeline             no stages at all
    │   ├── WrongType                 a value of the wrong kind (a list where a mapping goes…)
    │   ├── MissingKey                a required key is absent
    │   ├── UnknownKey                a key we do not know (with a did-you-mean)
    │   ├── DuplicateKey              the same key twice in one mapping
    │   ├── DuplicateStage            two stages with one name (also after matrix expansion)
    │   ├── InvalidValue              a value outside its allowed set or range
    │   ├── InvalidDuration           "90s", "10m", "2h", "30d" … expected
    │   ├── InvalidSize               "512Mi", "2G" … expected
    │   ├── MatrixTooLarge            more combinations than the cap
    │   ├── SelfDependency            a stage that needs itself
    │   ├── UnknownNeed               a stage that needs a stage that does not exist
    │   └── DependencyCycle           stages that need each other, with the cycle's path
    ├── PipelineInvalid               every PipelineError found in one pass (``errors``)
    └── InvalidTransition             an event that is illegal in the current state

Each carries its data as attributes so callers can render it however they like.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.errors import DomainError

__all__ = [
    "ConflictingKeys",
    "DependencyCycle",
    "DuplicateKey",
    "DuplicateStage",
    "EmptyPipeline",
    "InvalidDuration",
    "InvalidSize",
    "InvalidTransition",
    "InvalidValue",
    "MatrixTooLarge",
    "MissingKey",
    "PipelineError",
    "PipelineInvalid",
    "SelfDependency",
    "UnknownKey",
    "UnknownNeed",
    "WrongType",
    "YamlSyntaxError",
]


def _did_you_mean(suggestion: str | None) -> str:
    return f" (did you mean {suggestion!r}?)" if suggestion else ""


class PipelineError(DomainError):
    """One problem in a pipeline file; ``line`` is 1-based, or None when unknown."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def located(self, path: str) -> str:
        """Render as ``path:line: message`` (or ``path: message`` without a line)."""
        where = f"{path}:{self.line}" if self.line is not None else path
        return f"{where}: {self.message}"


class ConflictingKeys(PipelineError):
    """Keys that are each valid but do not go together (e.g. canary steps on a rolling deploy)."""

    def __init__(self, where: str, problem: str, *, line: int | None) -> None:
        super().__init__(f"{where}: {problem}", line=line)
        self.where = where
        self.problem = problem


class YamlSyntaxError(PipelineError):
    """The text is not valid YAML."""

    def __init__(self, problem: str, *, line: int | None, column: int | None) -> None:
        super().__init__(f"YAML syntax error: {problem}", line=line)
        self.problem = problem
        self.column = column


class EmptyPipeline(PipelineError):
    """The pipeline defines no stages."""

    def __init__(self, *, line: int | None = None) -> None:
        super().__init__("the pipeline has no stages: add at least one under 'stages:'", line=line)


class WrongType(PipelineError):
    """A value has the wrong kind."""

    def __init__(self, where: str, expected: str, got: str, *, line: int | None) -> None:
        super().__init__(f"{where} must be {expected}, not {got}", line=line)
        self.where = where
        self.expected = expected
        self.got = got


class MissingKey(PipelineError):
    """A required key is absent."""

    def __init__(self, where: str, key: str, *, line: int | None, hint: str = "") -> None:
        super().__init__(f"{where} needs a {key!r} key{hint}", line=line)
        self.where = where
        self.key = key


class UnknownKey(PipelineError):
    """A key that this section does not have."""

    def __init__(self, where: str, key: str, suggestion: str | None, *, line: int | None) -> None:
        super().__init__(f"unknown key {key!r} in {where}{_did_you_mean(suggestion)}", line=line)
        self.where = where
        self.key = key
        self.suggestion = suggestion


class DuplicateKey(PipelineError):
    """The same key appears twice in one mapping (YAML loaders keep only the last)."""

    def __init__(self, where: str, key: str, *, line: int | None, first_line: int | None) -> None:
        super().__init__(
            f"duplicate key {key!r} in {where} (first defined on line {first_line})", line=line
        )
        self.where = where
        self.key = key
        self.first_line = first_line


class DuplicateStage(PipelineError):
    """Two stages share a name."""

    def __init__(self, name: str, *, line: int | None, first_line: int | None) -> None:
        first = f" (first defined on line {first_line})" if first_line is not None else ""
        super().__init__(f"duplicate stage name {name!r}{first}", line=line)
        self.name = name
        self.first_line = first_line


class InvalidValue(PipelineError):
    """A value outside its allowed set or range."""

    def __init__(self, where: str, value: object, allowed: str, *, line: int | None) -> None:
        super().__init__(f"{where}: {value!r} is not allowed; expected {allowed}", line=line)
        self.where = where
        self.value = value
        self.allowed = allowed


class InvalidDuration(PipelineError):
    """A duration that cannot be parsed."""

    def __init__(self, where: str, value: str, *, line: int | None = None) -> None:
        super().__init__(
            f"{where}: {value!r} is not a duration; write e.g. '90s', '10m', '2h', '30d'",
            line=line,
        )
        self.where = where
        self.value = value


class InvalidSize(PipelineError):
    """A size that cannot be parsed."""

    def __init__(self, where: str, value: str, *, line: int | None = None) -> None:
        super().__init__(
            f"{where}: {value!r} is not a size; write e.g. '512Mi', '2Gi', '2G'", line=line
        )
        self.where = where
        self.value = value


class MatrixTooLarge(PipelineError):
    """A matrix expands into more stages than allowed."""

    def __init__(self, stage: str, combinations: int, cap: int, *, line: int | None) -> None:
        super().__init__(
            f"stage {stage!r}: the matrix expands into {combinations} combinations; "
            f"the limit is {cap}",
            line=line,
        )
        self.stage = stage
        self.combinations = combinations
        self.cap = cap


class SelfDependency(PipelineError):
    """A stage lists itself in ``needs``."""

    def __init__(self, stage: str, *, line: int | None = None) -> None:
        super().__init__(f"stage {stage!r} needs itself: remove it from its 'needs'", line=line)
        self.stage = stage


class UnknownNeed(PipelineError):
    """A stage needs a stage that does not exist."""

    def __init__(
        self, stage: str, need: str, suggestion: str | None, *, line: int | None = None
    ) -> None:
        super().__init__(
            f"stage {stage!r} needs {need!r}, which is not a stage{_did_you_mean(suggestion)}",
            line=line,
        )
        self.stage = stage
        self.need = need
        self.suggestion = suggestion


class DependencyCycle(PipelineError):
    """Stages that need each other; ``path`` starts and ends with the same stage."""

    def __init__(self, path: Sequence[str], *, line: int | None = None) -> None:
        self.path = tuple(path)
        super().__init__(
            f"dependency cycle: {' -> '.join(self.path)} (each stage needs the next)", line=line
        )


class PipelineInvalid(DomainError):
    """Every problem found in a pipeline, in the order of the file."""

    def __init__(self, errors: Sequence[PipelineError]) -> None:
        self.errors = tuple(sorted(errors, key=lambda e: (e.line is None, e.line or 0)))
        count = len(self.errors)
        first = self.errors[0].message if self.errors else "no details"
        super().__init__(f"{count} error{'s' if count != 1 else ''} in the pipeline: {first}")


class InvalidTransition(DomainError):
    """An event that is illegal in the current state (the decider never produces one)."""

    def __init__(self, event: str, subject: str, detail: str) -> None:
        super().__init__(f"{event} is illegal for {subject}: {detail}")
        self.event = event
        self.subject = subject
        self.detail = detail
