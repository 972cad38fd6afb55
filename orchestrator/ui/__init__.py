"""The web UI, served by the API process under ``/ui`` (same origin as the API).

Server-rendered HTML (Jinja2 templates in ``templates/``); htmx (pinned, installed from the
npm registry by ``infra/up`` into ``static/vendor/``) for the fragments that refresh, and
``static/ui.js`` (hand-written) for the live stage statuses, the DAG's hover and the
windowed log view. Sign-in turns an API token into an encrypted session cookie
(``session.py``); every page applies the token's scopes and pipelines as the API does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from orchestrator.api import ApiSettings, create_app
from orchestrator.ui import actions, dead_letters, environments, history, logroutes, pages
from orchestrator.ui.session import SignInNeeded
from schemas.settings import ServiceSettings

__all__ = ["STATIC", "create_web_app", "mount"]

STATIC = Path(__file__).with_name("static")


def create_web_app(settings: ServiceSettings, api: ApiSettings, **options: Any) -> FastAPI:
    """The API (``create_app``, with its ``options``) with the pages mounted on it: what
    ``sluice api`` serves."""
    app = create_app(settings, api, **options)
    mount(app)
    return app


def mount(app: FastAPI) -> None:
    """Add the pages, their static files and the sign-in redirect to ``app``."""
    for module in (pages, actions, dead_letters, environments, history, logroutes):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_exception_handler(SignInNeeded, _sign_in)
    app.add_exception_handler(HTTPException, _error_page)
    app.add_api_route("/ui", _to_ui, include_in_schema=False)


async def _sign_in(_: Request, e: Exception) -> Response:
    assert isinstance(e, SignInNeeded)
    return RedirectResponse(f"/ui/login?next={e.next_url}", status_code=303)


_DATA = ("/state", "/lines", "/search", "/stream", "/download")


async def _error_page(request: Request, e: Exception) -> Response:
    """An HTML page for a page's error; the API's JSON everywhere else."""
    assert isinstance(e, HTTPException)
    path = request.url.path
    if not path.startswith("/ui/") or path.endswith(_DATA) or e.status_code < 400:
        return await http_exception_handler(request, e)
    values = {"request": request, "session": None, "status": e.status_code, "detail": e.detail}
    answer = pages.templates.TemplateResponse(request, "error.html", values, e.status_code)
    for name, value in (e.headers or {}).items():
        answer.headers[name] = value
    return answer


async def _to_ui() -> Response:
    return RedirectResponse("/ui/", status_code=307)
