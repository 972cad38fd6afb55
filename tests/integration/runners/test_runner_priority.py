"""A free slot takes the most urgent job first."""

from __future__ import annotations

from orchestrator.domain.events import StageClaimed
from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import Priority
from tests.integration.runners.conftest import Rig
from tests.support.waiting import eventually


def test_with_normal_jobs_queued_a_critical_job_starts_at_the_next_free_slot(rig: Rig) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start(slots=1)
    blocker = rig.job(StageSpec(name="blocker", script=("sleep 3",)))
    rig.send(blocker)
    eventually(lambda: inbox.of(StageClaimed, run_id=blocker.run_id), timeout=30, what="claim")
    normals = [rig.job(StageSpec(name=f"normal-{i}", script=("true",))) for i in range(5)]
    for job in normals:
        rig.send(job)
    urgent = rig.job(StageSpec(name="urgent", script=("true",)), priority=Priority.CRITICAL)
    rig.send(urgent)

    def first_claims() -> list[str] | None:
        stages = [claim.stage for claim in inbox.of(StageClaimed)]
        return stages if len(stages) >= 2 else None

    claims = eventually(first_claims, timeout=30, what="the claim after the blocker")
    assert claims[:2] == ["blocker", "urgent"]
