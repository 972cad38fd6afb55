"""Sign-in for the pages: the API token, given once, kept in an encrypted HttpOnly cookie.

The cookie holds the token encrypted with the secrets key (Fernet: authenticated, so it
cannot be forged or read), for :data:`SESSION_HOURS`. Every request decrypts it and looks
the token up as the API does, so revoking the token (``sluice tokens revoke``) ends every
session made with it, and scopes and per-pipeline access are the token's own.

Every form that changes something carries a CSRF value: the SHA-256 of the session cookie,
which a page of another origin cannot read (the cookie is HttpOnly and SameSite=Strict as
well, so a cross-site POST carries no session to begin with).

Pages count against the token's rate limit like API calls (the same bucket: a page is a
read made with the token); a failed sign-in counts against the caller's address, so
guessing tokens through the form is as slow as through the API.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from cryptography.fernet import InvalidToken
from fastapi import Depends, HTTPException, Request

from orchestrator.api.auth import context, within_rate
from orchestrator.api.context import Context
from orchestrator.api.tokens import Scope, TokenInfo, lookup_token
from schemas.errors import SluiceError

__all__ = [
    "COOKIE",
    "SESSION_HOURS",
    "Session",
    "SignInNeeded",
    "check_csrf",
    "open_session",
    "seal",
    "session",
    "sign_in_key",
]

COOKIE = "sluice_session"
SESSION_HOURS = 12


class SignInNeeded(SluiceError):
    """No valid session: the page redirects to sign-in (``.next`` is where to come back)."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in with an API token")
        self.next_url = next_url


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in visitor: the token (scopes, pipelines) and the form's CSRF value."""

    token: TokenInfo
    csrf: str

    def can(self, scope: Scope) -> bool:
        """Whether the token carries ``scope``."""
        return self.token.allows(scope)

    def sees(self, pipeline_id: str) -> None:
        """404 unless the token may see ``pipeline_id`` (as the API answers)."""
        if not self.token.sees(pipeline_id):
            raise HTTPException(404, f"pipeline {pipeline_id!r} not found")


def seal(ctx: Context, token: str) -> str:
    """The cookie value for ``token``."""
    return ctx.fernet.encrypt(token.encode()).decode()


def csrf_of(cookie: str) -> str:
    """The CSRF value of a session cookie."""
    return hashlib.sha256(b"sluice-csrf:" + cookie.encode()).hexdigest()


def open_session(ctx: Context, cookie: str | None) -> Session | None:
    """The session a cookie holds; None when absent, forged, expired or revoked."""
    if not cookie:
        return None
    try:
        token = ctx.fernet.decrypt(cookie.encode(), ttl=SESSION_HOURS * 3600).decode()
    except (InvalidToken, UnicodeError):
        return None
    with ctx.db.connection() as conn:
        info = lookup_token(conn, token)
    if info is None or not info.allows(Scope.READ):
        return None
    return Session(info, csrf_of(cookie))


def session(request: Request, ctx: Annotated[Context, Depends(context)]) -> Session:
    """A dependency: the visitor's session, else :class:`SignInNeeded` (a redirect)."""
    found = open_session(ctx, request.cookies.get(COOKIE))
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(quote(target, safe="/?=&"))
    within_rate(ctx, found.token.token_id)
    return found


def sign_in_key(request: Request) -> str:
    """The rate-limit key of a sign-in attempt: the caller's address."""
    return f"sign-in:{request.client.host if request.client else 'unknown'}"


def check_csrf(signed_in: Session, sent: str, scope: Scope) -> None:
    """403 unless the form's CSRF value matches the session and the token has ``scope``."""
    if not hmac.compare_digest(signed_in.csrf, sent):
        raise HTTPException(403, "the form is stale or not ours: reload the page and try again")
    if not signed_in.can(scope):
        raise HTTPException(403, f"this token lacks the {scope.value!r} scope")
