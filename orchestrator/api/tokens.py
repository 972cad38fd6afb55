"""API tokens: a random secret shown once, stored as its SHA-256, with scopes and an
optional list of the pipelines it may touch (empty = every pipeline). A scope
``deploy:<environment>`` lets the token play and roll back deploys of that environment once
it is protected (``admin`` may do so for every environment).

A token reads ``sl_<token_id>_<secret>``; only ``sha256(token)`` is stored, so a database
dump reveals no usable token. ``sluice tokens create|revoke`` call these directly.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg

from orchestrator.domain.deploy_parser import ENVIRONMENT_NAME
from schemas.errors import DomainError

__all__ = [
    "DEPLOY_SCOPE",
    "CreatedToken",
    "InvalidScope",
    "Scope",
    "TokenInfo",
    "create_token",
    "deploy_scopes",
    "digest",
    "lookup_token",
    "lookup_token_async",
    "parse_scopes",
    "revoke_token",
]

Conn = psycopg.Connection[Any]
AsyncConn = psycopg.AsyncConnection[Any]
DEPLOY_SCOPE = "deploy:"  # + an environment's name


class Scope(StrEnum):
    """What a token may do; ``admin`` implies every other scope."""

    READ = "read"
    TRIGGER = "trigger"
    ADMIN = "admin"
    RUNNER = "runner"


class InvalidScope(DomainError):
    """A scope that is not one of read, trigger, admin, runner, deploy:<environment>."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A live token, as the API sees it once authenticated."""

    token_id: str
    name: str
    scopes: frozenset[Scope]
    pipelines: frozenset[str]
    environments: frozenset[str] = frozenset()  # its deploy:<environment> scopes

    def allows(self, scope: Scope) -> bool:
        """Whether the token carries ``scope`` (admin carries all)."""
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def may_deploy(self, environment: str) -> bool:
        """Whether the token may play and roll back deploys of a protected ``environment``."""
        return environment in self.environments or Scope.ADMIN in self.scopes

    def sees(self, pipeline_id: str) -> bool:
        """Whether the token may touch ``pipeline_id``."""
        return not self.pipelines or pipeline_id in self.pipelines


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A new token: ``secret`` is the whole token, shown only this once."""

    token_id: str
    secret: str
    scopes: tuple[str, ...]
    pipelines: tuple[str, ...]


def digest(token: str) -> str:
    """The hex SHA-256 the table stores for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(names: Iterable[str]) -> tuple[Scope, ...]:
    """The plain scopes named (``deploy:<environment>`` ones are left to
    :func:`deploy_scopes`), or :class:`InvalidScope` naming the first unknown one."""
    out = []
    for name in names:
        if name.strip().startswith(DEPLOY_SCOPE):
            continue
        try:
            out.append(Scope(name.strip()))
        except ValueError as e:
            known = ", ".join(s.value for s in Scope)
            raise InvalidScope(
                f"unknown scope {name!r}; use one of {known} or deploy:<environment>"
            ) from e
    return tuple(dict.fromkeys(out))


def deploy_scopes(names: Iterable[str]) -> tuple[str, ...]:
    """The environments of the ``deploy:<environment>`` scopes named; an environment name
    a deploy stage could not use is :class:`InvalidScope`."""
    out = []
    for name in (n.strip() for n in names):
        if not name.startswith(DEPLOY_SCOPE):
            continue
        environment = name.removeprefix(DEPLOY_SCOPE)
        if not ENVIRONMENT_NAME.fullmatch(environment):
            raise InvalidScope(
                f"scope {name!r}: after 'deploy:' write an environment's name "
                "(lower-case letters, digits and '-', at most 40)"
            )
        out.append(environment)
    return tuple(dict.fromkeys(out))


def create_token(
    conn: Conn, *, name: str, scopes: Sequence[str], pipelines: Sequence[str] = ()
) -> CreatedToken:
    """Store a new token's hash and return the token (its only appearance)."""
    parsed = [s.value for s in parse_scopes(scopes)]
    parsed += [DEPLOY_SCOPE + e for e in deploy_scopes(scopes)]
    if not parsed:
        raise InvalidScope(
            "a token needs at least one scope (read, trigger, admin, runner, deploy:<environment>)"
        )
    token_id = secrets.token_hex(6)
    token = f"sl_{token_id}_{secrets.token_urlsafe(32)}"
    conn.execute(
        "INSERT INTO api_tokens (token_id, name, secret_sha256, scopes, pipelines)"
        " VALUES (%s, %s, %s, %s, %s)",
        (token_id, name, digest(token), parsed, list(pipelines)),
    )
    return CreatedToken(token_id, token, tuple(parsed), tuple(pipelines))


def revoke_token(conn: Conn, token_id: str) -> bool:
    """Revoke ``token_id``; False when there is no such live token."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_id = %s AND revoked_at IS NULL",
        (token_id,),
    )
    return cur.rowcount == 1


_LOOKUP = (
    b"SELECT token_id, name, scopes, pipelines FROM api_tokens"
    b" WHERE secret_sha256 = %s AND revoked_at IS NULL"
)


def lookup_token(conn: Conn, token: str) -> TokenInfo | None:
    """The live token ``token`` is, or None (unknown or revoked)."""
    return _token_of(conn.execute(_LOOKUP, (digest(token),)).fetchone())


async def lookup_token_async(conn: AsyncConn, token: str) -> TokenInfo | None:
    """:func:`lookup_token` on an asyncio connection."""
    cur = await conn.execute(_LOOKUP, (digest(token),))
    return _token_of(await cur.fetchone())


def _token_of(row: tuple[Any, ...] | None) -> TokenInfo | None:
    if row is None:
        return None
    scopes = frozenset(Scope(s) for s in row[2] if s in Scope.__members__.values())
    environments = frozenset(
        s.removeprefix(DEPLOY_SCOPE) for s in row[2] if s.startswith(DEPLOY_SCOPE)
    )
    return TokenInfo(row[0], row[1], scopes, frozenset(row[3]), environments)
