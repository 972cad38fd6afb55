"""Authentication (bearer tokens), scopes, per-pipeline access and the rate limit.

A missing, unknown or revoked token is 401; a token without the scope a route needs is
403; a pipeline the token may not see is 404 (as if it did not exist, so names do not leak);
over the rate limit is 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.api.audit import audit_denial
from orchestrator.api.context import Context
from orchestrator.api.tokens import Scope, TokenInfo, lookup_token

__all__ = ["context", "not_found", "require", "visible", "within_rate"]

_bearer = HTTPBearer(auto_error=False)


async def context(request: Request) -> Context:
    """The process's :class:`Context` (set by the app factory). Async, because FastAPI runs
    a plain ``def`` dependency on a worker thread: a hop to a thread and back per request."""
    ctx: Context = request.app.state.ctx
    return ctx


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def require(scope: Scope) -> Callable[..., TokenInfo]:
    """A dependency: the caller's token, which must carry ``scope`` and be within its rate."""

    def check(
        request: Request,
        ctx: Annotated[Context, Depends(context)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenInfo:
        if credentials is None:
            _denied(ctx, request, "anonymous", "no token")
            raise _unauthorized("missing token: send 'Authorization: Bearer <token>'")
        with ctx.db.connection() as conn:
            token = lookup_token(conn, credentials.credentials)
        if token is None:
            _denied(ctx, request, "unknown token", "unknown or revoked token")
            raise _unauthorized("unknown or revoked token; create one with `sluice tokens create`")
        if not token.allows(scope):
            _denied(ctx, request, f"token:{token.token_id}", f"lacks scope {scope.value}")
            raise HTTPException(403, f"this token lacks the {scope.value!r} scope")
        within_rate(ctx, token.token_id)
        return token

    return check


def within_rate(ctx: Context, key: str) -> None:
    """429 with ``Retry-After`` once ``key`` is over this process's rate limit."""
    wait = ctx.limiter.take(key)
    if wait > 0:
        retry = str(max(1, math.ceil(wait)))
        raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": retry})


def _denied(ctx: Context, request: Request, actor: str, reason: str) -> None:
    action = f"{request.method} {request.url.path}"
    audit_denial(ctx, actor=actor, action=action, reason=reason)


def not_found(what: str) -> HTTPException:
    """The 404 for ``what`` (also what a token without access sees)."""
    return HTTPException(404, f"{what} not found")


def visible(token: TokenInfo, pipeline_id: str) -> None:
    """Raise 404 unless ``token`` may see ``pipeline_id``."""
    if not token.sees(pipeline_id):
        raise not_found(f"pipeline {pipeline_id!r}")
