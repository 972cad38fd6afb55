"""The API's request timing (orchestrator.api.health.Metrics): one sample per request,
labelled by route template, method and status."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from orchestrator.api.health import Metrics


def _app(metrics: Metrics) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the route failed")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        def lines() -> Iterator[bytes]:
            yield b"a\n"
            yield b"b\n"

        return StreamingResponse(lines())

    app.add_middleware(metrics.middleware)
    return app


def _get(app: FastAPI, path: str) -> httpx.Response:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get(path)

    return asyncio.run(get())


def _count(metrics: Metrics, route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    value = metrics.registry.get_sample_value("sluice_api_request_seconds_count", labels)
    return value or 0.0


def test_a_request_is_counted_under_its_route_template_not_its_path() -> None:
    metrics = Metrics()
    app = _app(metrics)
    _get(app, "/items/1")
    _get(app, "/items/2")
    assert _count(metrics, "/items/{item_id}", "GET", "200") == 2


def test_a_route_that_raises_is_counted_as_a_500() -> None:
    metrics = Metrics()
    assert _get(_app(metrics), "/boom").status_code == 500
    assert _count(metrics, "/boom", "GET", "500") == 1


def test_a_path_no_route_matches_is_counted_as_unmatched() -> None:
    metrics = Metrics()
    assert _get(_app(metrics), "/nowhere").status_code == 404
    assert _count(metrics, "unmatched", "GET", "404") == 1


def test_a_streamed_response_is_counted_once() -> None:
    metrics = Metrics()
    assert _get(_app(metrics), "/stream").text == "a\nb\n"
    assert _count(metrics, "/stream", "GET", "200") == 1
