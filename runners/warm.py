"""Warm images: what a runner pulls when it starts, so stages on them start without a pull.

The catalogue's toolchain images, plus the images most used by stages of the last 7 days
(counted from the read model's ``stages.image``; the top 10 by default,
``SLUICE_WARM_IMAGES``). They are pulled one after the other in a background thread; one
that cannot be pulled is logged and skipped (the stage that asks for it pulls it then).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import psycopg

from runners.executor import Containers
from runners.toolchains import load_catalogue
from schemas.errors import SluiceError

__all__ = ["popular_images", "start_warming", "warm_images"]

log = logging.getLogger("sluice.runner")


def popular_images(*, dsn: str, schema: str, top: int, days: int = 7) -> list[str]:
    """The ``top`` images most used by stages of runs created in the last ``days``."""
    try:
        with psycopg.connect(dsn, options=f"-c search_path={schema}", connect_timeout=5) as c:
            rows = c.execute(
                "SELECT s.image FROM stages s JOIN pipeline_runs r USING (run_id)"
                " WHERE s.image IS NOT NULL AND s.image NOT LIKE '%%${{%%'"
                " AND r.created_at > now() - make_interval(days => %s)"
                " GROUP BY s.image ORDER BY count(*) DESC, s.image LIMIT %s",
                (days, top),
            ).fetchall()
    except psycopg.Error as e:
        log.warning("cannot count the most used images: %s", e)
        return []
    return [str(r[0]) for r in rows]


def warm_images(containers: Containers, images: Iterable[str]) -> list[str]:
    """Pull each image unless present; the ones now warm."""
    warm = []
    for image in dict.fromkeys(images):
        try:
            if not containers.is_local(image):
                containers.pull(image)
            warm.append(image)
        except SluiceError as e:
            log.warning("could not warm image %s: %s", image, e)
    return warm


def start_warming(containers: Containers, *, dsn: str, schema: str, top: int) -> threading.Thread:
    """Warm the catalogue and the popular images in a daemon thread."""

    def work() -> None:
        images = [t.ref for t in load_catalogue()]
        if top > 0:
            images += popular_images(dsn=dsn, schema=schema, top=top)
        log.info("warm images: %s", ", ".join(warm_images(containers, images)) or "none")

    thread = threading.Thread(target=work, name="warm-images", daemon=True)
    thread.start()
    return thread
