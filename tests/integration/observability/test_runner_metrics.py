"""A real runner exports its slots as gauges while it lives, and forgets them when it stops."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import docker
import pytest
from cryptography.fernet import Fernet
from prometheus_client import REGISTRY

from runners.config import RunnerConfig
from runners.main import run
from schemas.eventlog import TopicNames
from schemas.settings import ServiceSettings
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def slots(runner_id: str, state: str) -> float | None:
    return REGISTRY.get_sample_value(f"sluice_runner_slots_{state}", {"runner": runner_id})


def test_a_runner_exports_its_free_slots_while_alive_and_nothing_once_stopped(
    settings: ServiceSettings,
    docker_client: docker.DockerClient,
    pg_schema: str,
    topics: TopicNames,
    tmp_path: Path,
) -> None:
    config = RunnerConfig(
        state_dir=tmp_path / "state",
        secrets_key=Fernet.generate_key().decode(),
        pg_schema=pg_schema,
        key_prefix=f"tests/{topics.prefix}",
    )
    runner_id = f"runner-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    kwargs = {"prefix": topics.prefix, "slots": 3, "runner_id": runner_id, "config": config}
    thread = threading.Thread(target=run, args=(settings,), kwargs={**kwargs, "stop": stop})
    thread.start()
    try:
        eventually(lambda: slots(runner_id, "free") == 3, timeout=60, what="3 free slots")
        assert slots(runner_id, "busy") == 0
    finally:
        stop.set()
        thread.join(60)
    assert slots(runner_id, "free") is None
    assert slots(runner_id, "busy") is None
