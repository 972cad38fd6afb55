"""Warm capacity: the pool keeps the host's image cache warm and says whether a start is warm.

Each test pushes its own tag to the local registry (built on the base image), so removing
it locally never takes an image from under another test.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import docker
import pytest

from runners.executor import image_ref
from runners.pool.warm import ImageWarmer
from runners.toolchains import BASE_IMAGE
from schemas.settings import ServiceSettings


def _push(client: docker.DockerClient, settings: ServiceSettings, image: str, label: str) -> str:
    """Build ``image`` (the base image plus a label), push it, return its local id."""
    ref = image_ref(image, settings.registry)
    base = image_ref(BASE_IMAGE, settings.registry)
    dockerfile = io.BytesIO(f"FROM {base}\nLABEL sluice.test={label}\n".encode())
    built, _ = client.images.build(fileobj=dockerfile, tag=ref, rm=True)
    client.images.push(ref)
    return str(built.id)


@pytest.fixture
def image(settings: ServiceSettings, docker_client: docker.DockerClient) -> Iterator[str]:
    name = f"pool-warm-{uuid.uuid4().hex[:8]}:1"
    _push(docker_client, settings, name, "one")
    yield name
    docker_client.images.remove(image_ref(name, settings.registry), force=True)


def _warmer(settings: ServiceSettings, image: str) -> ImageWarmer:
    return ImageWarmer(
        docker_host=settings.docker_host,
        registry=settings.registry,
        images=lambda: [image],
        every_s=300,
    )


def test_a_start_is_cold_until_the_pool_has_warmed_the_image(
    settings: ServiceSettings, docker_client: docker.DockerClient, image: str
) -> None:
    docker_client.images.remove(image_ref(image, settings.registry), force=True)
    warmer = _warmer(settings, image)
    warmer._wanted = [image]

    cold = warmer.all_warm()
    warmed = warmer.warm_once()

    assert (cold, warmed, warmer.all_warm()) == (False, [image], True)


def test_a_tag_pushed_again_reaches_the_host_on_the_next_round(
    settings: ServiceSettings, docker_client: docker.DockerClient, image: str
) -> None:
    warmer = _warmer(settings, image)
    ref = image_ref(image, settings.registry)
    old = docker_client.images.get(ref)
    new = _push(docker_client, settings, image, "two")  # the registry has "two" now
    repository, tag = ref.rsplit(":", 1)
    old.tag(repository, tag)  # and the host still has "one" under the same tag

    warmer.warm_once()

    assert docker_client.images.get(ref).id == new != old.id
