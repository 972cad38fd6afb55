"""Routes of tokens: create (the token is shown once) and revoke (``admin``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from orchestrator.api.audit import audit_action
from orchestrator.api.auth import context, not_found, require
from orchestrator.api.context import Context
from orchestrator.api.models import TokenIn, TokenOut
from orchestrator.api.tokens import Scope, TokenInfo, create_token, revoke_token

__all__ = ["router"]

router = APIRouter(tags=["tokens"])
Ctx = Annotated[Context, Depends(context)]
Admin = Annotated[TokenInfo, Depends(require(Scope.ADMIN))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (400, 401, 403, 404, 429)
}


@router.post("/tokens", status_code=201, responses=_ERRORS)
def create(body: TokenIn, token: Admin, ctx: Ctx) -> TokenOut:
    """A new token; its secret appears only in this response."""
    with ctx.db.connection() as conn:
        made = create_token(conn, name=body.name, scopes=body.scopes, pipelines=body.pipelines)
    audit_action(ctx, token, "token.create", detail={"token_id": made.token_id})
    return TokenOut(
        token_id=made.token_id,
        token=made.secret,
        scopes=list(made.scopes),
        pipelines=list(made.pipelines),
    )


@router.delete("/tokens/{token_id}", status_code=204, responses=_ERRORS)
def revoke(token_id: str, token: Admin, ctx: Ctx) -> Response:
    """Revoke a token; 404 if there is no such live token."""
    with ctx.db.connection() as conn:
        if not revoke_token(conn, token_id):
            raise not_found(f"token {token_id!r}")
    ctx.token_rows.changed()  # refused here at once; elsewhere when PostgreSQL's notice comes
    audit_action(ctx, token, "token.revoke", detail={"token_id": token_id})
    return Response(status_code=204)
