"""Starting only accepted claims: a job waits here until the decider accepted its claim.

A runner's ``StageClaimed`` is a request; the decider accepts it (and appends it to
``sluice.runs``) only for the stage's current, unclaimed attempt. Stale copies — an old
attempt's job still queued after a person retried the stage, a job of a cancelled run or of
an attempt that timed out waiting, a duplicate message — are fenced off there, so a runner
starts a container only once the decider told it so: the accepted claim, appended to
``sluice.runs``, is copied to the runner's notices (:mod:`runners.notices`). A claim the
decider does not accept is answered there too (``ClaimRefused``, with its reason), and its job
is dropped at once. A claim with no answer within ``timeout_ms`` is dropped as refused (the
decider may be down: the lease then runs out and the stage is re-queued).

The same notices tell of a lease this runner
lost (``StageLeaseExpired`` naming it: its heartbeats did not arrive in time and the stage
went back to the queue), so that attempt's container is stopped rather than left running
beside the next attempt.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from orchestrator.domain.jobs import Job
from runners.messages import RunNotice, run_notice

__all__ = ["CLAIM_CONFIRM_MS", "ClaimGate", "GateNews", "Refused"]

CLAIM_CONFIRM_MS = 15_000

AttemptKey = tuple[str, str, int]  # run, stage, attempt


@dataclass
class GateNews:
    """What one look at the runner's notices found."""

    accepted: list[Job] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)  # refused, or no answer in time
    lost: list[AttemptKey] = field(default_factory=list)  # leases of this runner that expired


@dataclass(frozen=True)
class Refused:
    """A held job whose claim was not accepted, and why."""

    job: Job
    reason: str


@dataclass
class _Held:
    job: Job
    until_ms: int


class ClaimGate:
    """Holds claimed jobs until the decider tells the runner it accepted their claim."""

    def __init__(self, *, runner_id: str, timeout_ms: int = CLAIM_CONFIRM_MS) -> None:
        """Accept only ``runner_id``'s own claims, each within ``timeout_ms``."""
        self._runner = runner_id
        self._timeout_ms = timeout_ms
        self._held: dict[AttemptKey, _Held] = {}

    @property
    def held(self) -> int:
        """How many claims wait for the decider (each holds a slot)."""
        return len(self._held)

    def hold(self, job: Job, now_ms: int) -> None:
        """Wait for the decider to accept this runner's claim of ``job``."""
        self._held[(job.run_id, job.stage.name, job.attempt)] = _Held(
            job, now_ms + self._timeout_ms
        )

    def poll(
        self, now_ms: int, running: Collection[AttemptKey], values: Iterable[bytes]
    ) -> GateNews:
        """Claims accepted or refused, and leases lost, in ``values`` (the runner's notices:
        events of ``sluice.runs`` the decider addressed to it)."""
        news = GateNews()
        for value in values:
            notice = run_notice(value)
            if notice is not None and notice.runner_id == self._runner:
                self._note(notice, running, news)
        for key in [k for k, h in self._held.items() if h.until_ms <= now_ms]:
            job = self._held.pop(key).job
            news.refused.append(
                Refused(job, f"no answer from the decider in {self._timeout_ms} ms")
            )
        return news

    def release_all(self) -> list[Job]:
        """Every job still waiting (the runner is stopping)."""
        jobs = [h.job for h in self._held.values()]
        self._held.clear()
        return jobs

    def _note(self, notice: RunNotice, running: Collection[AttemptKey], news: GateNews) -> None:
        key = (notice.run_id, notice.stage, notice.attempt)
        if notice.kind == "claimed" and key in self._held:
            news.accepted.append(self._held.pop(key).job)
        elif notice.kind == "refused" and key in self._held:
            news.refused.append(Refused(self._held.pop(key).job, notice.reason))
        elif notice.kind == "lease_expired" and key in running:
            news.lost.append(key)
