"""Protected environments: playing or rolling back their deploys needs ``deploy:<env>``.

An admin protects an environment (``PUT /environments/{env}/protection``); from then on the
API answers 403 to a token without the scope ``deploy:<env>`` (or ``admin``) that tries to
play a manual deploy stage of it or roll it back, and records the refused attempt on
``sluice.audit`` (outcome ``denied``) before answering. Allowed attempts are audited by the
route that carries them out.
"""

from __future__ import annotations

from fastapi import HTTPException

from orchestrator.api.audit import audit
from orchestrator.api.context import Context
from orchestrator.api.tokens import DEPLOY_SCOPE, TokenInfo
from schemas.pg import Conn

__all__ = ["guard_environment", "is_protected", "protect", "unprotect"]


def is_protected(conn: Conn, environment: str) -> bool:
    """Whether an admin protected ``environment``."""
    row = conn.execute(
        "SELECT 1 FROM protected_environments WHERE name = %s", (environment,)
    ).fetchone()
    return row is not None


def protect(conn: Conn, environment: str, by: str) -> bool:
    """Protect ``environment``; False when it already was."""
    cur = conn.execute(
        "INSERT INTO protected_environments (name, protected_by) VALUES (%s, %s)"
        " ON CONFLICT (name) DO NOTHING",
        (environment, by),
    )
    return cur.rowcount == 1


def unprotect(conn: Conn, environment: str) -> bool:
    """Lift the protection of ``environment``; False when it had none."""
    cur = conn.execute("DELETE FROM protected_environments WHERE name = %s", (environment,))
    return cur.rowcount == 1


def guard_environment(
    ctx: Context, token: TokenInfo, environment: str, action: str, pipeline_id: str | None
) -> None:
    """Raise 403 (after auditing the refusal) unless ``token`` may do ``action`` on
    ``environment``: always when it is not protected, else with ``deploy:<env>`` or admin."""
    with ctx.db.connection() as conn:
        protected = is_protected(conn, environment)
    if not protected or token.may_deploy(environment):
        return
    scope = DEPLOY_SCOPE + environment
    reason = (
        f"environment {environment!r} is protected: {action} needs a token with the scope "
        f"{scope!r} (or admin); this token has neither"
    )
    actor = f"token:{token.token_id}"
    audit(
        ctx,
        subject=pipeline_id or actor,
        action=action,
        actor=actor,
        outcome="denied",
        pipeline_id=pipeline_id,
        detail={"environment": environment, "reason": reason},
    )
    raise HTTPException(403, reason)
