"""What a deploy ships: the image the run built (``${{ images.NAME }}``), or one named as is."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import parse_pipeline
from orchestrator.domain.jobs import Job
from orchestrator.domain.statuses import Priority
from runners.deployer.deployment import Deployment

SHA = "ab" * 20


def _deployment(image: str) -> Deployment:
    text = (
        "name: ship\nstages:\n  image: {build_image: {name: app}}\n"
        f"  deploy: {{needs: [image], deploy: {{environment: staging, image: '{image}'}}}}\n"
    )
    stage = parse_pipeline(text).stages[1]
    job = Job(
        job_id="r/deploy/1",
        run_id="r",
        pipeline_id="p",
        stage=stage,
        attempt=1,
        priority=Priority.NORMAL,
        repo_url="file:///repo",
        commit_sha=SHA,
        branch="main",
        lease_ms=1000,
        enqueued_at_ms=0,
    )
    nothing: Any = None  # image() touches neither HAProxy nor Docker
    return Deployment(job, nothing, nothing, nothing, registry="127.0.0.1:5000")


def test_a_deploy_ships_the_image_its_run_built_from_the_registry() -> None:
    assert _deployment("${{ images.app }}").image() == f"127.0.0.1:5000/app:{SHA}"


def test_an_image_named_as_is_is_shipped_as_written() -> None:
    assert _deployment("127.0.0.1:5000/web:v2").image() == "127.0.0.1:5000/web:v2"
