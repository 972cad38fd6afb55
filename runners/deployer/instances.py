"""An environment's containers on Docker: started with labels, found again by them."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import docker
import httpx
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from runners.deployer.errors import InstanceFailed

__all__ = ["ENV_LABEL", "Containers", "Running"]

ENV_LABEL = "sluice.environment"
IMAGE_LABEL = "sluice.image"


@dataclass(frozen=True, slots=True)
class Running:
    """A container of an environment: its name, image and ``ip:port``."""

    name: str
    image: str
    address: str


class Containers:
    """Starts, probes and stops an environment's containers."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.http = httpx.Client(timeout=1.0)

    def close(self) -> None:
        """Close the health-check client."""
        self.http.close()

    def of(self, env: str, port: int) -> list[Running]:
        """Every running container of ``env``, oldest first."""
        found = self.client.containers.list(
            filters={"label": f"{ENV_LABEL}={env}"}, ignore_removed=True
        )
        found.sort(key=lambda c: str(c.attrs.get("Created", "")))
        return [self._running(c, port) for c in found]

    def start(self, env: str, name: str, image: str, port: int) -> Running:
        """Start a container of ``image`` (pulled when missing) named ``name``."""
        self._ensure_image(image)
        labels = {ENV_LABEL: env, IMAGE_LABEL: image}
        try:
            self._remove(name)  # a leftover of a crashed deployer with the same name
            c = self.client.containers.run(
                image, name=name, detach=True, labels=labels, restart_policy={"Name": "no"}
            )
        except APIError as e:
            raise InstanceFailed(f"cannot start {name} from {image}: {e.explanation}") from e
        return self._running(self._with_address(c), port)

    def healthy(self, address: str, path: str) -> bool:
        """Whether ``http://address/path`` answers 2xx now."""
        try:
            return self.http.get(f"http://{address}{path}").is_success
        except httpx.HTTPError:
            return False

    def exited(self, name: str) -> str | None:
        """Why the container is not running, or None while it runs."""
        try:
            c = self.client.containers.get(name)
        except NotFound:
            return "the container is gone"
        state = c.attrs.get("State", {})
        return None if state.get("Running") else f"exited with {state.get('ExitCode')}"

    def stop(self, name: str) -> None:
        """Stop (SIGTERM, 10 s grace) and remove the container."""
        try:
            c = self.client.containers.get(name)
            c.stop(timeout=10)
        except NotFound:
            return
        self._remove(name)

    def _remove(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.containers.get(name).remove(force=True)

    def _ensure_image(self, image: str) -> None:
        try:
            self.client.images.get(image)
        except ImageNotFound:
            try:
                self.client.images.pull(image)
            except APIError as e:
                raise InstanceFailed(f"cannot pull {image}: {e.explanation}") from e

    def _with_address(self, c: Container) -> Container:
        for _ in range(50):
            c.reload()
            if c.attrs["NetworkSettings"].get("IPAddress"):
                return c
            time.sleep(0.05)
        raise InstanceFailed(f"{c.name} got no address on the bridge network")

    @staticmethod
    def _running(c: Container, port: int) -> Running:
        ip = c.attrs["NetworkSettings"].get("IPAddress", "")
        return Running(str(c.name), str(c.labels.get(IMAGE_LABEL, "")), f"{ip}:{port}")
