"""The Docker engine runs the base image from the local registry, isolated and limited."""

from __future__ import annotations

import docker

from schemas.settings import ServiceSettings


def test_base_image_from_local_registry_runs_without_network_under_a_memory_limit(
    docker_client: docker.DockerClient, settings: ServiceSettings
) -> None:
    image = f"{settings.registry}/debian-git:bookworm"
    docker_client.images.pull(image)
    output = docker_client.containers.run(
        image,
        ["sh", "-c", "git --version; cat /sys/class/net/*/operstate | wc -l; id -u"],
        network_mode="none",
        mem_limit="128m",
        user="65534:65534",
        remove=True,
    )
    lines = output.decode().split()
    assert output.decode().startswith("git version 2.")
    # only the loopback interface exists without a network
    assert lines[-2] == "1"
    assert lines[-1] == "65534"
