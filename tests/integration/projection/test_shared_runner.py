"""Read models sharing one runner (one consumer): each applies every event exactly once."""

from __future__ import annotations

import psycopg

from projections.environments import ENVIRONMENTS
from projections.projector import READ_MODEL
from projections.runner import ProjectionRunner
from tests.integration.projection.conftest import Log
from tests.integration.projection.scenarios import diamond_success
from tests.integration.projection.test_environments import T0, deployment
from tests.support.threads import running

PG = psycopg.Connection[tuple[object, ...]]


def test_read_models_sharing_a_runner_apply_each_event_once_though_one_was_ahead(
    log: Log, pg: PG, pg_schema: str
) -> None:
    ahead = deployment("run-a", "app:v1", rolled_back=False, at=T0)
    log.publish(ahead)
    alone = ProjectionRunner(ENVIRONMENTS, log.settings, prefix=log.prefix, schema=pg_schema)
    with running(alone):
        log.wait_applied(pg, projection=ENVIRONMENTS.name)
    log.publish(diamond_success("run-b"))
    log.publish(deployment("run-b", "app:v2", rolled_back=True, at=T0 + 60_000))

    shared = ProjectionRunner(
        READ_MODEL, log.settings, prefix=log.prefix, schema=pg_schema, also=(ENVIRONMENTS,)
    )
    with running(shared):
        log.wait_applied(pg, projection=READ_MODEL.name)
        log.wait_applied(pg, projection=ENVIRONMENTS.name)

    deployments = pg.execute(
        "SELECT image, outcome FROM deployments ORDER BY started_at"
    ).fetchall()
    runs = pg.execute("SELECT run_id, status FROM pipeline_runs").fetchall()
    assert deployments == [("app:v1", "succeeded"), ("app:v2", "rolled_back")]
    assert runs == [("run-b", "success")]
    assert shared.duplicates == len(ahead)  # read again from the start, dropped by ENVIRONMENTS
