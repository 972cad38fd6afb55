"""``make demo`` (``python -m orchestrator.demo``) on a fresh state: its own topics, schema,
state directory and API port, the processors (with the deployer), a runner and the API it
starts itself, and an environment of its own name instead of ``staging``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docker
import httpx
import pytest
from confluent_kafka.admin import AdminClient

from orchestrator import demo
from orchestrator.daemons import Daemons
from runners.deployer.haproxy import HAProxy
from runners.deployer.instances import ENV_LABEL
from schemas.settings import ServiceSettings
from tests.support.ports import free_port
from tests.support.services import require
from tests.support.stack import create_topics, delete_topics
from tests.support.toolchains import ensure_images

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_env(
    *, kafka_admin: AdminClient, settings: ServiceSettings, pg_schema: str, topic_prefix: str,
    tmp_path: Path, unique: str, docker_client: docker.DockerClient,
) -> Iterator[dict[str, str]]:  # fmt: skip
    """The demo's environment variables; afterwards its processes, containers, HAProxy
    frontend and topics are removed."""
    haproxy = HAProxy(settings.haproxy_dir)
    require("HAProxy", lambda: haproxy.command("show info"))
    ensure_images(settings, "python:3.11")
    create_topics(kafka_admin, topic_prefix)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SLUICE_TOPIC_PREFIX": topic_prefix,
        "SLUICE_PG_SCHEMA": pg_schema,
        "SLUICE_STATE_DIR": str(tmp_path / "state"),
        "SLUICE_CACHE_DIR": str(tmp_path / "cache"),
        "SLUICE_HAPROXY_DIR": settings.haproxy_dir,  # the one HAProxy, not under the state
        "SLUICE_API_PORT": str(free_port()),
        "DEMO_ENVIRONMENT": f"demo{unique}",
    }
    yield env
    daemons = Daemons(tmp_path / "state")
    for name in daemons.names():
        daemons.stop(name)
    label = f"{ENV_LABEL}={env['DEMO_ENVIRONMENT']}"
    for c in docker_client.containers.list(all=True, filters={"label": label}, ignore_removed=True):
        c.remove(force=True)
    haproxy.remove_environment(env["DEMO_ENVIRONMENT"])
    made = [t for t in kafka_admin.list_topics(timeout=10).topics if t.startswith(topic_prefix)]
    delete_topics(kafka_admin, made)  # the catalogue's and the trigger processor's own


def test_the_demo_ends_with_the_built_image_deployed_and_answering(
    demo_env: dict[str, str],
) -> None:
    environment = demo_env["DEMO_ENVIRONMENT"]
    command = [sys.executable, "-m", "orchestrator.demo", "--environment", environment]
    done = subprocess.run(
        command, env=demo_env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]

    assert "RunSucceeded" in out and "[image] image 127.0.0.1:5000/demo-greet:" in out
    assert f"[deploy-staging] deployment to {environment} succeeded" in out
    found = re.search(rf"environment {environment}: (http://127\.0\.0\.1:\d+/) answers 200", out)
    assert found is not None, out[-3000:]
    # left running after the demo ended: every answer comes from the image the run built
    answers = {httpx.get(found.group(1), timeout=5).text.strip() for _ in range(6)}
    assert answers == {"hello from sluice"}
    # and every process it left is still its own to `make down` (known by its command line)
    daemons = Daemons(Path(demo_env["SLUICE_STATE_DIR"]))
    left = daemons.names()
    assert left and {n: daemons.running(n) is not None for n in left} == dict.fromkeys(left, True)


def test_the_demo_starts_a_deployer_beside_processors_that_run_none(
    kafka_admin: AdminClient,
    settings: ServiceSettings,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(demo, "STATE", tmp_path / "state")
    daemons = Daemons(tmp_path / "state")
    try:
        demo.ensure_deployer(replace(settings, topic_prefix=topic_prefix))
        pid = daemons.running("demo-deployer")
        assert pid is not None
    finally:
        for name in daemons.names():
            daemons.stop(name)
