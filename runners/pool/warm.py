"""Warm capacity: the pool keeps the host's image cache warm for every runner it starts.

Runners on one host share one Docker engine, so its image store is the cache. The pool
pulls the catalogue's toolchain images (infra/images.txt) and the images most used by the
last week's stages (runners/warm.py) when it starts and again every ``every_s``: a pull of
a tag already cached asks the registry for its digest and downloads only a changed image,
so a tag pushed again reaches the host within one period. Runners it starts are told not to
warm on their own (``SLUICE_WARM_IMAGES=-1``). :meth:`ImageWarmer.all_warm` says whether a
runner starting now starts warm (every wanted image cached) or cold.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import docker
from docker.errors import DockerException

from runners.executor import image_ref
from runners.toolchains import load_catalogue
from runners.warm import popular_images

__all__ = ["ImageWarmer", "wanted_images"]

log = logging.getLogger("sluice.pool")


def wanted_images(*, dsn: str, schema: str, top: int) -> list[str]:
    """The catalogue's images, then the ``top`` most used of the last week."""
    images = [t.ref for t in load_catalogue()]
    if top > 0:
        images += popular_images(dsn=dsn, schema=schema, top=top)
    return list(dict.fromkeys(images))


class ImageWarmer:
    """Pulls the wanted images now and every ``every_s`` in a daemon thread."""

    def __init__(
        self,
        *,
        docker_host: str,
        registry: str,
        images: Callable[[], list[str]],
        every_s: float,
    ) -> None:
        """Prepare to keep ``images()`` (asked anew each round) warm on ``docker_host``."""
        self._client = docker.DockerClient(base_url=docker_host)
        self._registry = registry
        self._images = images
        self._every_s = every_s
        self._wanted: list[str] = []
        self._stop = threading.Event()
        self.rounds = 0

    def start(self) -> threading.Thread:
        """Warm in the background until :meth:`stop`."""
        thread = threading.Thread(target=self._loop, name="pool-warm", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """End the background loop after its current pull."""
        self._stop.set()

    def warm_once(self) -> list[str]:
        """Pull every wanted image (refreshing cached tags); the ones now warm."""
        self._wanted = self._images()
        warm = []
        for image in self._wanted:
            ref = image_ref(image, self._registry)
            try:
                self._client.images.pull(ref)
                warm.append(image)
            except DockerException as e:
                log.warning("could not warm %s: %s", ref, e)
        self.rounds += 1
        return warm

    def all_warm(self) -> bool:
        """Whether every wanted image is in the engine's cache now (a warm start)."""
        if not self._wanted:
            return False
        try:
            for image in self._wanted:
                self._client.images.get(image_ref(image, self._registry))
        except DockerException:
            return False
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            warm = self.warm_once()
            log.info("warm images: %s", ", ".join(warm) or "none")
            self._stop.wait(self._every_s)
