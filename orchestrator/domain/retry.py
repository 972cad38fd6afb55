"""What happens after a failed attempt: retry (with back-off), dead-letter, or give up.

* Infrastructure failures are always retried, whatever the stage's policy says, until the
  third one of the stage, which dead-letters the attempt and fails the stage.
* Flaky and deterministic failures are retried only when the stage's ``retry.when`` lists
  their class and fewer than ``retry.max`` such retries were used.

Counts start again when a person retries the stage. The back-off is
``min(cap, base * factor**(n-1))`` for the n-th failure, ± up to 20% of jitter taken from a
hash of (run, stage, attempt): spread out, yet the same on every replay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from orchestrator.domain.model import RetryPolicy
from orchestrator.domain.state import StageState
from orchestrator.domain.statuses import FailureClass

__all__ = [
    "INFRASTRUCTURE_FAILURE_LIMIT",
    "JITTER",
    "DeadLetterIt",
    "GiveUp",
    "RetryIt",
    "Verdict",
    "backoff_ms",
    "classify_exit",
    "judge_failure",
]

INFRASTRUCTURE_FAILURE_LIMIT = 3
JITTER = 0.2
# `docker run` itself failed (daemon error), as opposed to the command it ran
_DOCKER_ERROR_EXIT = 125


@dataclass(frozen=True, slots=True)
class RetryIt:
    """Run ``attempt`` after ``backoff_ms``."""

    attempt: int
    backoff_ms: int


@dataclass(frozen=True, slots=True)
class DeadLetterIt:
    """Too many infrastructure failures: dead-letter the attempt and fail the stage."""

    reason: str
    infrastructure_failures: int


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No retry is allowed: the stage has failed."""

    reason: str


Verdict = RetryIt | DeadLetterIt | GiveUp


def judge_failure(run_id: str, stage: StageState) -> Verdict:
    """The verdict for a stage whose current attempt just failed (``stage.failure_class``)."""
    kind = stage.failure_class or FailureClass.DETERMINISTIC
    if kind is FailureClass.INFRASTRUCTURE:
        if stage.infrastructure_failures >= INFRASTRUCTURE_FAILURE_LIMIT:
            reason = f"{stage.infrastructure_failures} infrastructure failures: {stage.reason}"
            return DeadLetterIt(reason, stage.infrastructure_failures)
        return _retry(run_id, stage)
    policy = stage.spec.retry
    if kind in policy.when and stage.policy_retries < policy.max:
        return _retry(run_id, stage)
    return GiveUp(f"attempt {stage.attempt} failed ({kind}): {stage.reason}")


def _retry(run_id: str, stage: StageState) -> RetryIt:
    attempt = stage.dispatched + 1
    delay = backoff_ms(stage.spec.retry, max(stage.failures, 1), run_id, stage.name, attempt)
    return RetryIt(attempt, delay)


def backoff_ms(policy: RetryPolicy, failures: int, run_id: str, stage: str, attempt: int) -> int:
    """``min(cap, base * factor**(failures-1))`` with ±20% jitter derived from the ids."""
    exponent = min(failures - 1, 64)  # past this the cap always wins; keeps floats finite
    raw = min(
        float(policy.backoff_cap_ms), policy.backoff_base_ms * policy.backoff_factor**exponent
    )
    return max(0, round(raw * (1 + JITTER * (2 * _unit(run_id, stage, attempt) - 1))))


def _unit(run_id: str, stage: str, attempt: int) -> float:
    """A number in [0, 1) that depends only on the ids."""
    digest = hashlib.blake2b(f"{run_id}\0{stage}\0{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def classify_exit(exit_code: int | None, *, runner_error: bool = False) -> FailureClass:
    """How a runner classifies an attempt that did not succeed.

    No exit code (the container never ran or was lost), a runner-side error, or Docker's
    own failure (125) are infrastructure; any other non-zero exit is the stage's script.
    Flakiness is only ever declared by the runner that knows (e.g. a test report).
    """
    if runner_error or exit_code is None or exit_code == _DOCKER_ERROR_EXIT:
        return FailureClass.INFRASTRUCTURE
    return FailureClass.DETERMINISTIC
