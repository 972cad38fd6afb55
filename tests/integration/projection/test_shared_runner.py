"""Read models sharing one runner (one consumer): each applies every event exactly once."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import pytest

from projections.environments import ENVIRONMENTS
from projections.projector import READ_MODEL
from projections.runner import (
    Event,
    Projection,
    ProjectionRunner,
    ProjectionUnavailable,
    apply_together,
)
from schemas.eventlog import read_partition
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


def _offsets(pg: PG) -> list[tuple[object, ...]]:
    return pg.execute(
        "SELECT projection, partition, next_offset FROM projection_offsets ORDER BY 1, 2"
    ).fetchall()


def test_read_models_sharing_a_batch_commit_their_rows_and_offsets_together(
    log: Log, pg: PG, pg_conninfo: str, pg_schema: str
) -> None:
    [(partition, _), *_] = log.publish(diamond_success("run-c"))
    messages = list(read_partition(log.settings, log.runs, partition))

    results = apply_together(pg, [(READ_MODEL, messages), (ENVIRONMENTS, messages)])

    assert [r.applied for r in results] == [len(messages), 0]
    assert [r.ignored for r in results] == [0, len(messages)]
    end = (messages[-1].offset() or 0) + 1
    with psycopg.connect(pg_conninfo, options=f"-c search_path={pg_schema}") as other:
        assert _offsets(other) == [
            (ENVIRONMENTS.name, partition, end),
            (READ_MODEL.name, partition, end),
        ]
        assert other.execute("SELECT status FROM pipeline_runs").fetchall() == [("success",)]


def test_a_read_model_failing_its_batch_leaves_the_others_unapplied_too(log: Log, pg: PG) -> None:
    [(partition, _), *_] = log.publish(diamond_success("run-d"))
    messages = list(read_partition(log.settings, log.runs, partition))

    def broken(conn: PG, _: Sequence[Event]) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    failing = Projection(name="failing", topics=(log.runs,), handler=broken)

    with pytest.raises(ProjectionUnavailable, match="failing"):
        apply_together(pg, [(READ_MODEL, messages), (failing, messages)])

    assert _offsets(pg) == []
    assert pg.execute("SELECT count(*) FROM pipeline_runs").fetchone() == (0,)
