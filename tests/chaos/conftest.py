"""The chaos suite's cluster and deployment.

The cluster is ``infra/kafka-chaos``: three brokers of their own on :19092/:19094/:19096,
started here (a fresh machine gets it from ``make test``) and stopped after the session; the
shared broker on :9092 is never touched. Each module gets one Sluice deployment on it (its
own topics at replication 3 and ``min.insync.replicas=2``, its own database, and
``sluice processors``, ``sluice runner`` and ``sluice api`` as processes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from minio import Minio

from tests.support.chaos import ChaosCluster, ChaosDeployment
from tests.support.services import require


@pytest.fixture(scope="session")
def chaos_cluster() -> Iterator[ChaosCluster]:
    cluster = ChaosCluster()
    require("the chaos Kafka cluster (infra/kafka-chaos up)", lambda: cluster.up(fresh=True))
    yield cluster
    cluster.remove()


@pytest.fixture(scope="module")
def chaos(
    chaos_cluster: ChaosCluster,
    tmp_path_factory: pytest.TempPathFactory,
    minio_client: Minio,  # the runner archives logs there: it must be up
) -> Iterator[ChaosDeployment]:
    """Sluice deployed on the chaos cluster, its processes started and the API answering."""
    deployment = ChaosDeployment(chaos_cluster, tmp_path_factory.mktemp("chaos"))
    deployment.create()
    try:
        deployment.start_all()
        yield deployment
    finally:
        deployment.destroy()
