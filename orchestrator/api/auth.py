"""Authentication (bearer tokens), scopes, per-pipeline access and the rate limit.

A missing, unknown or revoked token is 401; a token without the scope a route needs is
403; a pipeline the token may not see is 404 (as if it did not exist, so names do not leak);
over the rate limit is 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.api.audit import audit_denial
from orchestrator.api.context import Context
from orchestrator.api.tokens import (
    Scope,
    TokenInfo,
    digest,
    lookup_token,
    lookup_token_async,
)

__all__ = ["context", "not_found", "require", "require_async", "visible", "within_rate"]

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
        token = None
        if credentials is not None:
            secret = credentials.credentials

            def load() -> TokenInfo | None:
                with ctx.db.connection() as conn:
                    return lookup_token(conn, secret)

            token = ctx.token_rows.read(digest(secret), load)
        refused = _refusal(credentials, token, scope)
        if refused is not None:
            _denied(ctx, request, refused)
            raise refused.error
        assert token is not None
        within_rate(ctx, token.token_id)
        return token

    return check


def require_async(scope: Scope) -> Callable[..., Awaitable[TokenInfo]]:
    """:func:`require` for a route that stays on the event loop (the trigger POST): the token
    is read on an asyncio connection; only a refusal (rare) takes a worker thread."""

    async def check(
        request: Request,
        ctx: Annotated[Context, Depends(context)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenInfo:
        token = None
        if credentials is not None:
            secret = credentials.credentials

            async def load() -> TokenInfo | None:
                async with ctx.db.async_connection() as conn:
                    return await lookup_token_async(conn, secret)

            token = await ctx.token_rows.read_async(digest(secret), load)
        refused = _refusal(credentials, token, scope)
        if refused is not None:
            await run_in_threadpool(_denied, ctx, request, refused)
            raise refused.error
        assert token is not None
        within_rate(ctx, token.token_id)
        return token

    return check


@dataclass(frozen=True, slots=True)
class _Refusal:
    actor: str
    reason: str
    error: HTTPException


def _refusal(
    credentials: HTTPAuthorizationCredentials | None, token: TokenInfo | None, scope: Scope
) -> _Refusal | None:
    """Why a request with ``credentials`` (found as ``token``) may not use ``scope``, if so."""
    if credentials is None:
        missing = _unauthorized("missing token: send 'Authorization: Bearer <token>'")
        return _Refusal("anonymous", "no token", missing)
    if token is None:
        unknown = _unauthorized("unknown or revoked token; create one with `sluice tokens create`")
        return _Refusal("unknown token", "unknown or revoked token", unknown)
    if not token.allows(scope):
        lacks = HTTPException(403, f"this token lacks the {scope.value!r} scope")
        return _Refusal(f"token:{token.token_id}", f"lacks scope {scope.value}", lacks)
    return None


def within_rate(ctx: Context, key: str) -> None:
    """429 with ``Retry-After`` once ``key`` is over this process's rate limit."""
    wait = ctx.limiter.take(key)
    if wait > 0:
        retry = str(max(1, math.ceil(wait)))
        raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": retry})


def _denied(ctx: Context, request: Request, refused: _Refusal) -> None:
    action = f"{request.method} {request.url.path}"
    audit_denial(ctx, actor=refused.actor, action=action, reason=refused.reason)


def not_found(what: str) -> HTTPException:
    """The 404 for ``what`` (also what a token without access sees)."""
    return HTTPException(404, f"{what} not found")


def visible(token: TokenInfo, pipeline_id: str) -> None:
    """Raise 404 unless ``token`` may see ``pipeline_id``."""
    if not token.sees(pipeline_id):
        raise not_found(f"pipeline {pipeline_id!r}")
