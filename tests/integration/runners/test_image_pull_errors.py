"""How the real Docker engine and registry fail a pull, and how the runner names it: an
image the registry lacks is the user's error; a registry that does not answer is not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from runners.errors import ContainerError, ImageNotFound
from runners.executor import DockerContainers
from schemas.errors import DomainError, InfrastructureError
from schemas.settings import ServiceSettings
from tests.support.ports import free_port
from tests.support.toolchains import ensure_images


def _containers(settings: ServiceSettings, registry: str, tmp: Path) -> DockerContainers:
    return DockerContainers(
        docker_host=settings.docker_host,
        registry=registry,
        runner_id="pull-errors",
        lock_path=tmp / "lock",
        work_root=tmp,
    )


@pytest.fixture
def containers(
    settings: ServiceSettings, docker_client: docker.DockerClient, tmp_path: Path
) -> Iterator[DockerContainers]:
    ensure_images(settings, "python:3.11")  # the image a typo should be told about
    made = _containers(settings, settings.registry, tmp_path)
    yield made
    made.close()


def test_a_misspelt_image_is_not_found_and_names_the_close_one(
    containers: DockerContainers,
) -> None:
    with pytest.raises(ImageNotFound) as caught:
        containers.pull("pyhton:3.11")

    assert isinstance(caught.value, DomainError)
    assert "image pyhton:3.11 does not exist" in str(caught.value)
    assert "did you mean python:3.11" in str(caught.value)


def test_an_unknown_tag_of_a_known_image_is_not_found(containers: DockerContainers) -> None:
    with pytest.raises(ImageNotFound, match=r"python:2\.7"):
        containers.pull("python:2.7")


def test_a_registry_that_does_not_answer_is_an_infrastructure_failure(
    settings: ServiceSettings, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    down = _containers(settings, f"127.0.0.1:{free_port()}", tmp_path)
    try:
        with pytest.raises(ContainerError) as caught:
            down.pull("python:3.11")
    finally:
        down.close()

    assert isinstance(caught.value, InfrastructureError)
    assert not isinstance(caught.value, ImageNotFound)
