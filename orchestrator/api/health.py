"""``/healthz`` and ``/metrics`` (Prometheus), and the middleware that times every request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from orchestrator.api.auth import context
from orchestrator.api.context import Context

__all__ = ["Metrics", "router"]

router = APIRouter(tags=["health"])


class Metrics:
    """The API's Prometheus metrics, in a registry of this app's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "sluice_api_request_seconds",
            "HTTP request latency by route template, method and status",
            ("route", "method", "status"),
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Time the request, labelled by its route template (not the raw path)."""
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        self.latency.labels(name, request.method, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response


@router.get("/healthz")
def healthz(ctx: Annotated[Context, Depends(context)]) -> JSONResponse:
    """200 when PostgreSQL answers, else 503 with the reason."""
    try:
        with ctx.db.connection() as conn:
            conn.execute("SELECT 1")
    except Exception as e:  # any failure here means "not healthy"
        return JSONResponse({"status": "unhealthy", "detail": str(e)}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
