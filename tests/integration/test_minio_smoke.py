"""MinIO works for real: bytes in and out with a checksum, and a presigned URL over HTTP."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import timedelta

import httpx
from minio import Minio

from schemas.settings import ServiceSettings


def test_an_object_put_is_read_back_with_the_same_sha256(
    minio_client: Minio, settings: ServiceSettings, unique: str
) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    key = f"tests/{unique}/blob.bin"
    minio_client.put_object(settings.artifact_bucket, key, io.BytesIO(payload), len(payload))
    response = minio_client.get_object(settings.artifact_bucket, key)
    try:
        read_back = response.read()
    finally:
        response.close()
        response.release_conn()
    minio_client.remove_object(settings.artifact_bucket, key)
    assert hashlib.sha256(read_back).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_a_presigned_url_serves_the_object_over_plain_http(
    minio_client: Minio, settings: ServiceSettings, unique: str
) -> None:
    key = f"tests/{unique}/hello.txt"
    minio_client.put_object(settings.artifact_bucket, key, io.BytesIO(b"hello sluice"), 12)
    url = minio_client.presigned_get_object(
        settings.artifact_bucket, key, expires=timedelta(minutes=5)
    )
    response = httpx.get(url, timeout=10)
    minio_client.remove_object(settings.artifact_bucket, key)
    assert response.status_code == 200
    assert response.content == b"hello sluice"
