"""Warm images: the runner pulls the catalogue and the most used images before stages ask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import psycopg
import pytest

from runners.executor import DockerContainers, image_ref
from runners.warm import popular_images, warm_images
from schemas.settings import ServiceSettings
from tests.support.toolchains import ensure_images


@pytest.fixture
def containers(
    settings: ServiceSettings, docker_client: docker.DockerClient, tmp_path: Path
) -> Iterator[DockerContainers]:
    made = DockerContainers(
        docker_host=settings.docker_host,
        registry=settings.registry,
        runner_id="warm-test",
        lock_path=tmp_path / "lock",
        work_root=tmp_path,
    )
    yield made
    made.close()


def test_a_warmed_image_is_local_afterwards(
    settings: ServiceSettings, docker_client: docker.DockerClient, containers: DockerContainers
) -> None:
    ensure_images(settings, "gcc:12")
    ref = image_ref("gcc:12", settings.registry)
    docker_client.images.remove(ref, force=True)  # cold: only in the registry now
    assert not containers.is_local("gcc:12")

    warm = warm_images(containers, ["gcc:12", "pyhton:3.11"])

    assert warm == ["gcc:12"]  # the typo is logged and skipped
    assert containers.is_local("gcc:12")


def test_the_most_used_images_come_first(
    settings: ServiceSettings, pg: psycopg.Connection[tuple[object, ...]], pg_schema: str
) -> None:
    for run, age in (("r1", "0"), ("r2", "0"), ("old", "30 days")):
        pg.execute(
            "INSERT INTO pipeline_runs (run_id, pipeline_id, branch, commit_sha, source,"
            " priority, status, created_at)"
            " VALUES (%s, 'p', 'main', 'abc', 'api', 'normal', 'success', now() - %s::interval)",
            (run, age),
        )
    rows = [
        ("r1", "a", "python:3.11"),
        ("r1", "b", "gcc:12"),
        ("r2", "a", "python:3.11"),
        ("r2", "b", "${{ images.app }}"),
        ("old", "a", "node:18"),
    ]
    for position, (run, name, image) in enumerate(rows):
        pg.execute(
            "INSERT INTO stages (run_id, name, position, status, image)"
            " VALUES (%s, %s, %s, 'success', %s)",
            (run, name, position, image),
        )
    pg.commit()

    found = popular_images(dsn=settings.pg_dsn, schema=pg_schema, top=10)

    assert found == ["python:3.11", "gcc:12"]
