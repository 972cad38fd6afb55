"""A service stopped by hand is reported down, and infra/up brings it back with its data.

These run last (tests/recovery is the last test path) because they stop shared services.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, Producer
from minio import Minio

from schemas.settings import ServiceSettings

INFRA = Path(__file__).resolve().parents[2] / "infra"


def infra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INFRA / args[0]), *args[1:]], check=False, capture_output=True, text=True, timeout=300
    )


def status_of(service: str) -> str:
    table = infra("status").stdout
    [row] = [line for line in table.splitlines() if line.startswith(service + " ")]
    return row.split()[-1].replace("\x1b[32m", "").replace("\x1b[31m", "").replace("\x1b[0m", "")


def restart(service: str) -> None:
    assert infra("down", service).returncode == 0
    assert status_of(service) == "down"
    up = infra("up", service)
    assert up.returncode == 0, up.stdout + up.stderr
    assert status_of(service) == "up"


def test_kafka_restarted_by_infra_up_still_has_a_topics_records(
    settings: ServiceSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topic = make_topic("durable")
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    producer.produce(topic, value=b"kept across a restart")
    assert producer.flush(10) == 0

    restart("kafka")

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"g{unique}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values = []
    for _ in range(150):
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
            break
    consumer.close()
    assert values == [b"kept across a restart"]


def test_postgres_restarted_by_infra_up_still_has_its_rows(
    pg_conninfo: str, pg_schema: str
) -> None:
    with psycopg.connect(pg_conninfo, options=f"-c search_path={pg_schema}") as conn:
        conn.execute(
            "INSERT INTO pipelines (pipeline_id, name, repo_url, created_at, updated_at)"
            " VALUES ('p-durable', 'durable', 'file:///x', now(), now())"
        )
    restart("postgres")
    with psycopg.connect(pg_conninfo, options=f"-c search_path={pg_schema}") as conn:
        row = conn.execute("SELECT name FROM pipelines WHERE pipeline_id = 'p-durable'").fetchone()
    assert row == ("durable",)


def test_minio_restarted_by_infra_up_still_has_its_objects(
    minio_client: Minio, settings: ServiceSettings, unique: str
) -> None:
    key = f"tests/{unique}/durable.txt"
    minio_client.put_object(settings.artifact_bucket, key, io.BytesIO(b"still here"), 10)
    restart("minio")
    response = minio_client.get_object(settings.artifact_bucket, key)
    try:
        assert response.read() == b"still here"
    finally:
        response.close()
        response.release_conn()
        minio_client.remove_object(settings.artifact_bucket, key)
