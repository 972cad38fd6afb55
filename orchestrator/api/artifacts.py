"""Routes of artifacts: upload (multipart, streamed with SHA-256), list, download (410 once
expired, forever: retention is :mod:`orchestrator.api.retention`).

An upload is spooled through a bounded buffer (memory, then disk), hashed and counted as
it arrives (413 as soon as it passes ``SLUICE_ARTIFACT_MAX_BYTES``), put to MinIO, then
reported as ``ArtifactStored`` on the inbox like a runner's artifact.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from minio.error import MinioException
from starlette.concurrency import run_in_threadpool

from orchestrator.api import queries
from orchestrator.api.auth import context, not_found, require, visible
from orchestrator.api.context import Context
from orchestrator.api.models import ArtifactOut
from orchestrator.api.multipart import Data, MultipartError, Parser, PartStart, boundary_of
from orchestrator.api.publish import append
from orchestrator.api.retention import ArtifactStoreUnavailable
from orchestrator.api.signed_urls import verify
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.api.trigger import read_run
from orchestrator.api.views import artifact_out
from orchestrator.domain import ArtifactStored

__all__ = ["ArtifactStoreUnavailable", "router"]

router = APIRouter(tags=["artifacts"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Uploader = Annotated[TokenInfo, Depends(require(Scope.RUNNER))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (400, 401, 403, 404, 409, 410, 413, 429)
}
_SPOOL_BYTES = 1024 * 1024
_FIELD_BYTES = 4096
_SHOWN_WITHIN_S = 10.0


@dataclass
class _Upload:
    fields: dict[str, bytes] = field(default_factory=dict)
    file: Any = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(_SPOOL_BYTES)  # noqa: SIM115
    )
    sha256: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    filename: str | None = None
    content_type: str = "application/octet-stream"
    current: str | None = None


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "stage_id", "file"],
                    "properties": {
                        "name": {"type": "string"},
                        "stage_id": {"type": "string"},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/runs/{run_id}/artifacts", status_code=201, responses=_ERRORS, openapi_extra=_UPLOAD_BODY
)
async def upload_artifact(run_id: str, request: Request, token: Uploader, ctx: Ctx) -> ArtifactOut:
    """Store an artifact of a run's stage (multipart fields: name, stage_id, file)."""
    run = await run_in_threadpool(_run_of, ctx, run_id)
    visible(token, run["pipeline_id"])
    upload = await _receive(request, ctx.api.artifact_max_bytes)
    try:
        name, stage = _field(upload, "name"), _field(upload, "stage_id")
        attempt = await run_in_threadpool(_attempt_of, ctx, run_id, stage)
        return await run_in_threadpool(
            lambda: _store(ctx, run_id, stage, attempt=attempt, name=name, upload=upload)
        )
    finally:
        upload.file.close()


def _run_of(ctx: Context, run_id: str) -> dict[str, Any]:
    def read() -> dict[str, Any] | None:
        with ctx.db.connection() as conn:
            return queries.run(conn, run_id)

    row = read_run(ctx, run_id, read)
    if row is None:
        raise not_found(f"run {run_id!r}")
    return row


def _attempt_of(ctx: Context, run_id: str, stage: str) -> int:
    with ctx.db.connection() as conn:
        stages = {s["name"]: s for s in queries.stages_of(conn, run_id)}
    if stage not in stages:
        raise not_found(f"stage {stage!r} of run {run_id}")
    attempt: int = stages[stage]["attempt"]
    if attempt < 1:
        raise HTTPException(409, f"stage {stage} has not been dispatched yet; upload once it runs")
    return attempt


async def _receive(request: Request, limit: int) -> _Upload:
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit + 64 * 1024:
        raise HTTPException(413, f"the upload is over the {limit}-byte artifact limit")
    parser = Parser(boundary_of(request.headers.get("content-type", "")))
    upload = _Upload()
    try:
        async for chunk in request.stream():
            for event in parser.feed(chunk):
                _take(upload, event, limit)
        parser.close()
    except BaseException:
        upload.file.close()
        raise
    if upload.filename is None:
        upload.file.close()
        raise MultipartError("the upload has no file part (field 'file')")
    upload.file.seek(0)
    return upload


def _take(upload: _Upload, event: PartStart | Data, limit: int) -> None:
    if isinstance(event, PartStart):
        upload.current = event.name
        if event.name == "file":
            upload.filename = event.filename or "artifact"
            upload.content_type = event.content_type
        return
    if upload.current == "file":
        upload.size += len(event.data)
        if upload.size > limit:
            raise HTTPException(413, f"the upload is over the {limit}-byte artifact limit")
        upload.sha256.update(event.data)
        upload.file.write(event.data)
    elif upload.current is not None:
        value = upload.fields.get(upload.current, b"") + event.data
        if len(value) > _FIELD_BYTES:
            raise MultipartError(f"form field {upload.current!r} is too long")
        upload.fields[upload.current] = value


def _field(upload: _Upload, name: str) -> str:
    value = upload.fields.get(name, b"").decode("utf-8", "replace").strip()
    if not value or "/" in value:
        raise MultipartError(f"form field {name!r} is required (no '/')")
    return value


def _store(
    ctx: Context, run_id: str, stage: str, *, attempt: int, name: str, upload: _Upload
) -> ArtifactOut:
    artifact_id = uuid.uuid4().hex
    key = f"{ctx.names.prefix}api/{run_id}/{stage}/{artifact_id}/{name}"
    _put(ctx, key, name, upload)
    now_ms = time.time_ns() // 1_000_000
    report = ArtifactStored(
        run_id=run_id,
        occurred_at_ms=now_ms,
        stage=stage,
        attempt=attempt,
        artifact_id=artifact_id,
        name=name,
        size_bytes=upload.size,
        sha256=upload.sha256.hexdigest(),
        storage_path=f"{ctx.settings.artifact_bucket}/{key}",
        expires_at_ms=now_ms + int(ctx.api.artifact_expire_days * 86_400_000),
    )
    append(ctx.producer, ctx.names.inbox, run_id, report)
    return _shown(ctx, report)


def _put(ctx: Context, key: str, name: str, upload: _Upload) -> None:
    bucket = ctx.settings.artifact_bucket
    try:
        ctx.s3.put_object(bucket, key, upload.file, upload.size, content_type=upload.content_type)
    except MinioException as e:
        raise ArtifactStoreUnavailable(f"cannot store artifact {name}: {e}") from e


def _shown(ctx: Context, report: ArtifactStored) -> ArtifactOut:
    """The artifact once the read model has it (bounded wait; else built from the report)."""
    deadline = time.monotonic() + _SHOWN_WITHIN_S
    while time.monotonic() < deadline:
        with ctx.db.connection() as conn:
            row = queries.artifact(conn, report.artifact_id)
        if row is not None:
            return artifact_out(ctx, row)
        time.sleep(0.02)
    expires = datetime.fromtimestamp(report.expires_at_ms / 1000, tz=UTC)
    row = {**_report_row(report), "expires_at": expires}
    return artifact_out(ctx, row)


def _report_row(report: ArtifactStored) -> dict[str, Any]:
    return {
        "artifact_id": report.artifact_id,
        "run_id": report.run_id,
        "stage": report.stage,
        "name": report.name,
        "size_bytes": report.size_bytes,
        "sha256": report.sha256,
    }


@router.get("/runs/{run_id}/artifacts", responses=_ERRORS)
def list_artifacts(run_id: str, token: Reader, ctx: Ctx) -> list[ArtifactOut]:
    """Every artifact of a run."""
    run = _run_of(ctx, run_id)
    visible(token, run["pipeline_id"])
    with ctx.db.connection() as conn:
        rows = queries.artifacts_of(conn, run_id)
    return [artifact_out(ctx, r) for r in rows]


@router.get(
    "/artifacts/{artifact_id}",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
)
def download_artifact(artifact_id: str, token: Reader, ctx: Ctx) -> StreamingResponse:
    """The artifact's bytes; 404 unknown, 410 once it has expired."""
    with ctx.db.connection() as conn:
        row = queries.artifact(conn, artifact_id)
    if row is None or not token.sees(row["pipeline_id"]):
        raise not_found(f"artifact {artifact_id!r}")
    return _serve(ctx, artifact_id, row)


@router.get(
    "/artifacts/{artifact_id}/download",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
)
def download_signed(
    artifact_id: str,
    ctx: Ctx,
    expires: Annotated[int, Query()] = 0,
    signature: Annotated[str, Query(max_length=128)] = "",
) -> StreamingResponse:
    """The artifact's bytes by a signed link (``download_url``), no token: 403 once expired."""
    refused = verify(ctx.url_key, artifact_id, expires, signature, now=time.time())
    if refused is not None:
        raise HTTPException(403, refused)
    with ctx.db.connection() as conn:
        row = queries.artifact(conn, artifact_id)
    if row is None:
        raise not_found(f"artifact {artifact_id!r}")
    return _serve(ctx, artifact_id, row)


def _serve(ctx: Context, artifact_id: str, row: dict[str, Any]) -> StreamingResponse:
    if row["expired_at"] is not None or row["expires_at"] <= datetime.now(UTC):
        raise HTTPException(410, f"artifact {artifact_id} expired at {row['expires_at']}")
    bucket, _, key = row["storage_path"].partition("/")
    try:
        obj = ctx.s3.get_object(bucket, key)
    except MinioException as e:
        raise ArtifactStoreUnavailable(f"cannot read artifact {artifact_id}: {e}") from e
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row['name'])}",
        "Content-Length": str(row["size_bytes"]),
        "X-Checksum-Sha256": row["sha256"],
    }
    media = obj.headers.get("Content-Type", "application/octet-stream")
    return StreamingResponse(_chunks(obj), media_type=media, headers=headers)


def _chunks(obj: Any) -> Iterator[bytes]:
    try:
        yield from obj.stream(256 * 1024)
    finally:
        obj.close()
        obj.release_conn()
