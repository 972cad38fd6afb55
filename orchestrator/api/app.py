"""The API app factory: ``create_app(settings, api)`` builds a FastAPI app whose lifespan
starts the ``sluice.runs`` follower and the background loops (cron, retention)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from cryptography.fernet import Fernet
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from minio import Minio

from orchestrator.api import (
    artifacts,
    audit_routes,
    dead_letters,
    environments,
    flaky_routes,
    health,
    log_search,
    logs,
    pipelines,
    runs,
    schedules,
    secrets,
    token_routes,
    webhooks,
)
from orchestrator.api.context import Context
from orchestrator.api.db import Database
from orchestrator.api.follower import RunsFollower
from orchestrator.api.loops import start_loops
from orchestrator.api.ratelimit import RateLimiter
from orchestrator.api.row_cache import RowCache
from orchestrator.api.settings import ApiSettings
from orchestrator.api.signed_urls import url_key
from runners.secrets import load_key
from schemas.delivery import LoopAppender
from schemas.errors import DomainError, InfrastructureError
from schemas.eventlog import EndOffsets, TopicNames, producer
from schemas.settings import ServiceSettings
from schemas.table_changes import TableChanges

__all__ = ["build_context", "create_app"]

_WORKER_THREADS = 256


def build_context(settings: ServiceSettings, api: ApiSettings) -> Context:
    """Connections for one API process (the follower is started by the app's lifespan)."""
    names = TopicNames(settings.topic_prefix)
    key = load_key(env_key=api.secrets_key, state_dir=api.state_dir)
    s3 = Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
    )
    ctx = Context(
        settings=settings,
        api=api,
        db=Database(dsn=settings.pg_dsn, schema=api.pg_schema),
        follower=RunsFollower(settings, topic=names.runs),
        producer=producer(settings),
        appender=LoopAppender(settings),
        s3=s3,
        limiter=RateLimiter(rate=api.rate_per_s, burst=api.burst),
        names=names,
        fernet=Fernet(key),
        url_key=url_key(key),
        end_offsets=EndOffsets(settings, group=f"sluice-api-ends-{uuid.uuid4().hex}"),
        changes=TableChanges(settings.pg_dsn, schema=api.pg_schema, name="sluice-api-changes"),
        token_rows=RowCache(ttl_s=api.row_cache_s),
        pipeline_rows=RowCache(ttl_s=api.row_cache_s),
    )
    ctx.changes.watch("api_tokens", ctx.token_rows)
    ctx.changes.watch("pipelines", ctx.pipeline_rows)
    return ctx


def create_app(settings: ServiceSettings, api: ApiSettings, *, loops: bool = True) -> FastAPI:
    """The Sluice API; ``loops=False`` leaves out the cron and retention loops."""
    ctx = build_context(settings, api)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        # each log follower holds a worker thread while it waits on Kafka: room for many
        anyio.to_thread.current_default_thread_limiter().total_tokens = _WORKER_THREADS
        ctx.follower.start()
        ctx.changes.start()
        await ctx.db.open()
        threads = start_loops(ctx, stop) if loops else []
        yield
        stop.set()
        ctx.follower.stop()
        ctx.changes.stop()
        await ctx.appender.stop()
        await ctx.db.close_async()
        ctx.end_offsets.close()
        ctx.producer.flush(10)
        for t in threads:
            t.join(10)
        ctx.db.close()

    app = FastAPI(title="Sluice", version="1", lifespan=lifespan)
    app.state.ctx = ctx
    app.state.metrics = health.Metrics()
    app.add_middleware(app.state.metrics.middleware)
    routers = (
        runs,
        pipelines,
        schedules,
        artifacts,
        logs,
        log_search,
        secrets,
        token_routes,
        webhooks,
        audit_routes,
        flaky_routes,
        environments,
        dead_letters,
        health,
    )
    for module in routers:
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(InfrastructureError, _infrastructure_error)
    return app


async def _invalid_request(_: Request, e: Exception) -> JSONResponse:
    """422 naming each bad field, without echoing its value (it may be a secret)."""
    assert isinstance(e, RequestValidationError)
    errors = [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in e.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


async def _domain_error(_: Request, e: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(e)}, status_code=400)


async def _infrastructure_error(_: Request, e: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(e)}, status_code=503, headers={"Retry-After": "5"})
