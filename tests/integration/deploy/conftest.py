from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import docker
import pytest
from confluent_kafka.admin import AdminClient

from runners.deployer.haproxy import HAProxy
from runners.deployer.instances import ENV_LABEL
from runners.deployer.main import Deployer
from schemas.settings import ServiceSettings
from tests.support.leftovers import fresh_topic_prefix
from tests.support.services import require
from tests.support.stack import Stack, create_topics, delete_topics
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def haproxy(settings: ServiceSettings) -> HAProxy:
    h = HAProxy(settings.haproxy_dir)
    require("HAProxy", lambda: h.command("show info"))
    return h


@pytest.fixture(scope="module")
def stack(
    kafka_admin: AdminClient, settings: ServiceSettings, docker_client: docker.DockerClient
) -> Iterator[Stack]:
    """Decider, timers and a stand-in runner, plus a real deployer, on this module's topics."""
    prefix = fresh_topic_prefix("d")
    topics = create_topics(kafka_admin, prefix)
    s = Stack(settings, prefix)
    s.start()
    deployer = Deployer(settings, prefix=prefix, deployer_id="deployer-test")
    t = threading.Thread(target=deployer.run, args=(s.stop,), daemon=True)
    t.start()
    s.threads.append(t)
    eventually(deployer.ready.is_set, timeout=60, what="the deployer to own partitions")
    yield s
    s.close()
    delete_topics(kafka_admin, topics)


@pytest.fixture
def environment(unique: str, haproxy: HAProxy, docker_client: docker.DockerClient) -> Iterator[str]:
    """A fresh environment name; its containers and HAProxy frontend go away afterwards."""
    env = f"t{unique}"
    yield env
    for c in docker_client.containers.list(
        all=True, filters={"label": f"{ENV_LABEL}={env}"}, ignore_removed=True
    ):
        c.remove(force=True)
    haproxy.remove_environment(env)


Deploy = Callable[..., str]


def ended(stack: Stack, run_id: str, timeout: float) -> str:
    """The run's terminal event name, with every failure reason when it is not a success."""
    name = stack.log.terminal(run_id, timeout=timeout)
    reasons = [str(getattr(e, "reason", "")) for e in stack.log.events[run_id]]
    return name if name == "RunSucceeded" else f"{name}: {[r for r in reasons if r]}"
