"""Warm images: the runner pulls the catalogue and the most used images before stages ask."""

from __future__ import annotations

import io
import tarfile
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


def _tiny_image(client: docker.DockerClient, ref: str, content: str) -> str:
    """Build a one-file image tagged ``ref``; its id."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", "FROM scratch\nCOPY tag.txt /\n"), ("tag.txt", content)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = client.images.build(fileobj=context, custom_context=True, tag=ref, rm=True)
    return str(image.id)


def test_a_tag_pushed_again_is_pulled_again_once_the_recheck_is_due(
    settings: ServiceSettings,
    docker_client: docker.DockerClient,
    containers: DockerContainers,
    unique: str,
) -> None:
    ref = f"{settings.registry}/repull-{unique}:main"
    first = _tiny_image(docker_client, ref, "first")
    docker_client.images.push(ref)
    assert containers.pull(ref) == ref
    second = _tiny_image(docker_client, ref, "second")  # another host pushes the tag anew
    docker_client.images.push(ref)
    docker_client.images.get(first).tag(ref)  # this host still holds the old image

    containers.pull(ref)
    assert docker_client.images.get(ref).id == first  # within the recheck window: no lookup

    containers.recheck_s = 0.0
    containers.pull(ref)
    assert docker_client.images.get(ref).id == second


def test_an_unreachable_registry_falls_back_to_the_local_copy(
    settings: ServiceSettings, docker_client: docker.DockerClient, tmp_path: Path, unique: str
) -> None:
    ref = f"127.0.0.1:1/offline-{unique}:main"  # nothing listens on port 1
    local = _tiny_image(docker_client, ref, "local")
    offline = DockerContainers(
        docker_host=settings.docker_host,
        registry="127.0.0.1:1",
        runner_id="offline-test",
        lock_path=tmp_path / "lock",
        work_root=tmp_path,
    )
    try:
        assert offline.pull(ref) == ref
    finally:
        offline.close()
        docker_client.images.remove(local, force=True)
