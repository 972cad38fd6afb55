"""The environments read model on real Kafka and PostgreSQL: a fold of Deployment* events."""

from __future__ import annotations

import threading

import psycopg

from orchestrator.domain import RunEvent
from orchestrator.domain.events import (
    DeploymentRolledBack,
    DeploymentStarted,
    DeploymentSucceeded,
)
from projections.environments import ENVIRONMENTS
from projections.runner import ProjectionRunner
from tests.integration.projection.conftest import Log
from tests.support.event_ids import DeploymentAttemptIds

PG = psycopg.Connection[tuple[object, ...]]
T0 = 1_800_000_000_000


def deployment(run_id: str, image: str, *, rolled_back: bool, at: int) -> list[RunEvent]:
    ids: DeploymentAttemptIds = {
        "run_id": run_id,
        "stage": "deploy",
        "attempt": 1,
        "environment": "staging",
        "deployment_id": f"{run_id}/deploy/1",
    }
    started = DeploymentStarted(
        **ids, occurred_at_ms=at, strategy="rolling", image=image, replicas=3
    )
    if rolled_back:
        end: RunEvent = DeploymentRolledBack(
            **ids, occurred_at_ms=at + 5_000, reason="instance x unhealthy", to_image="app:v1"
        )
    else:
        end = DeploymentSucceeded(**ids, occurred_at_ms=at + 5_000)
    return [started, end]


def test_an_environment_shows_its_last_good_image_and_every_deployment(
    log: Log, pg: PG, pg_schema: str
) -> None:
    log.publish(deployment("run-a", "app:v1", rolled_back=False, at=T0))
    log.publish(deployment("run-b", "app:v2", rolled_back=True, at=T0 + 60_000))
    stop = threading.Event()
    runner = ProjectionRunner(ENVIRONMENTS, log.settings, prefix=log.prefix, schema=pg_schema)
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        log.wait_applied(pg, projection=ENVIRONMENTS.name)
    finally:
        stop.set()
        thread.join(30)

    env = pg.execute(
        "SELECT current_image, current_deployment_id, last_deployment_id FROM environments"
        " WHERE name = 'staging'"
    ).fetchone()
    history = pg.execute(
        "SELECT image, outcome, reason, rolled_back_to FROM deployments"
        " WHERE environment = 'staging' ORDER BY started_at"
    ).fetchall()
    assert env == ("app:v1", "run-a/deploy/1", "run-b/deploy/1")
    assert history == [
        ("app:v1", "succeeded", None, None),
        ("app:v2", "rolled_back", "instance x unhealthy", "app:v1"),
    ]
