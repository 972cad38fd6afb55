"""The environments page: what each environment the visitor's token sees runs now, where, and
its recent deployments (steps' outcome, rollbacks); a Rollback button, shown only with the
``trigger`` scope, posts the session's CSRF value and does what
``POST /environments/{env}/rollback`` does."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse

from orchestrator.api import environments as api
from orchestrator.api.auth import context
from orchestrator.api.context import Context
from orchestrator.api.models import DeploymentOut, RollbackIn
from orchestrator.api.tokens import Scope
from orchestrator.ui.pages import page
from orchestrator.ui.session import Session, check_csrf, session

__all__ = ["router"]

router = APIRouter(prefix="/ui/environments", include_in_schema=False)
Ctx = Annotated[Context, Depends(context)]
Signed = Annotated[Session, Depends(session)]
Csrf = Annotated[str, Form()]  # missing: "" (then 403, like a wrong one)
_SHOWN = 10  # deployments shown per environment


@router.get("")
def environments_page(request: Request, *, ctx: Ctx, signed_in: Signed) -> HTMLResponse:
    """Every environment the token sees, with its latest deployments."""
    envs = api.list_environments(signed_in.token, ctx)
    history = {e.name: _deployments(e.name, signed_in, ctx) for e in envs}
    return page(request, "environments.html", signed_in, environments=envs, history=history)


def _deployments(environment: str, signed_in: Session, ctx: Context) -> list[DeploymentOut]:
    try:
        return api.list_deployments(environment, signed_in.token, ctx, limit=_SHOWN)
    except HTTPException:  # none this token may see
        return []


@router.post("/{environment}/rollback")
def rollback(environment: str, *, ctx: Ctx, signed_in: Signed, csrf: Csrf = "") -> RedirectResponse:
    """Roll the environment back to its previous succeeded image (a new run, no rebuild)."""
    check_csrf(signed_in, csrf, Scope.TRIGGER)
    api.rollback(environment, signed_in.token, ctx, RollbackIn())
    return RedirectResponse("/ui/environments", status_code=303)
