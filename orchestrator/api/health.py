"""``/healthz`` and ``/metrics`` (Prometheus), and the middleware that times every request."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """``app`` with every HTTP request timed to its response headers, labelled by its
        route template (not the raw path); a request that fails before them counts as a 500.

        Plain ASGI: Starlette's ``BaseHTTPMiddleware`` runs each request through a task group
        and memory streams, which under load cost more than the routes it timed."""

        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            answered = False

            async def observed(message: Message) -> None:
                nonlocal answered
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    self._observe(scope, message["status"], start)
                await send(message)

            try:
                await app(scope, receive, observed)
            finally:
                if not answered:
                    self._observe(scope, 500, start)

        return timed

    def _observe(self, scope: Scope, status: int, start: float) -> None:
        # the router has put the matched route into this same scope by now
        name = getattr(scope.get("route"), "path", "unmatched")
        self.latency.labels(name, scope["method"], str(status)).observe(time.perf_counter() - start)


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
