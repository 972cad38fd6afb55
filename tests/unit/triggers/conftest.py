"""A faust consumer of the trigger processor's configuration, which needs no broker until it
starts: the work-arounds of faust's private consumer state are checked on it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projections.triggers import configured_app
from schemas.settings import ServiceSettings
from tests.unit.triggers.faust_consumer import TRIGGERS


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One loop for the app, its consumer and every call (faust would make its own)."""
    running = asyncio.new_event_loop()
    asyncio.set_event_loop(running)
    yield running
    asyncio.set_event_loop(None)
    running.close()


@pytest.fixture
def consumer(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    async def made() -> Any:
        app = configured_app(ServiceSettings(), "faust-consumer-test", tmp_path)
        app.topic(TRIGGERS, key_serializer="raw", value_serializer="raw", partitions=12)
        return app.consumer

    made_consumer = loop.run_until_complete(made())
    yield made_consumer
    made_consumer._thread.thread_loop.close()  # made for its thread, which never started
