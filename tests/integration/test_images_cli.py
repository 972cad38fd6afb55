"""``sluice images list|build`` on the real Docker engine and registry."""

from __future__ import annotations

import subprocess
import sys

import docker

from schemas.settings import ServiceSettings
from tests.support.toolchains import ensure_images

_MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


def _sluice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _MAIN, "images", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_list_shows_each_catalogue_image_and_its_state(
    settings: ServiceSettings, docker_client: docker.DockerClient
) -> None:
    ensure_images(settings, "python:3.11")

    done = _sluice("list")

    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:] if line.strip()}
    assert "up to date" in rows["python:3.11"]
    assert "python3-pytest" in rows["python:3.11"]
    assert {"golang:1.19", "gcc:12", "node:18"} <= set(rows)


def test_build_of_an_up_to_date_image_reuses_it(
    settings: ServiceSettings, docker_client: docker.DockerClient
) -> None:
    ensure_images(settings, "python:3.11")

    done = _sluice("build", "python:3.11")

    assert done.returncode == 0, done.stderr
    assert "python:3.11: up to date in" in done.stdout


def test_build_of_an_unknown_name_lists_the_catalogue(docker_client: docker.DockerClient) -> None:
    done = _sluice("build", "ruby:3")

    assert done.returncode == 1
    assert "'ruby:3' is not in the images catalogue" in done.stderr
