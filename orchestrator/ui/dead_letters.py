"""The dead-letters page: open dead letters the visitor's token sees, with Redrive and
Discard buttons shown only with the ``trigger`` scope. The buttons are form POSTs carrying
the session's CSRF value and append the same requests as ``POST /dead-letters/...``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from orchestrator.api import dead_letters as api
from orchestrator.api.auth import context
from orchestrator.api.context import Context
from orchestrator.api.tokens import Scope
from orchestrator.ui.pages import page
from orchestrator.ui.session import Session, check_csrf, session

__all__ = ["router"]

router = APIRouter(prefix="/ui/dead-letters", include_in_schema=False)
Ctx = Annotated[Context, Depends(context)]
Signed = Annotated[Session, Depends(session)]
Csrf = Annotated[str, Form()]  # missing: "" (then 403, like a wrong one)
_STATUSES = ("dead", "redriven", "discarded", "all")


@router.get("")
def dead_letters_page(
    request: Request, *, ctx: Ctx, signed_in: Signed, pipeline: str = "", status: str = "dead"
) -> HTMLResponse:
    """Dead letters, oldest first (open ones unless ``status`` says otherwise)."""
    if status not in _STATUSES:
        raise HTTPException(400, f"status must be one of {', '.join(_STATUSES)}")
    rows = api.list_dead_letters(
        token=signed_in.token, ctx=ctx, pipeline=pipeline or None, status=status
    )
    filters = {"pipeline": pipeline, "status": status}
    return page(request, "dead_letters.html", signed_in, letters=rows, filters=filters)


@router.post("/{dead_letter_id}/redrive")
def redrive(
    dead_letter_id: str, *, ctx: Ctx, signed_in: Signed, csrf: Csrf = ""
) -> RedirectResponse:
    """Redrive one dead letter (as ``POST /dead-letters/{id}/redrive``)."""
    check_csrf(signed_in, csrf, Scope.TRIGGER)
    api.redrive_one(dead_letter_id, signed_in.token, ctx)
    return RedirectResponse("/ui/dead-letters", status_code=303)


@router.post("/{dead_letter_id}/discard")
def discard(
    dead_letter_id: str,
    *,
    ctx: Ctx,
    signed_in: Signed,
    reason: Annotated[str, Form(min_length=1, max_length=1000)],
    csrf: Csrf = "",
) -> RedirectResponse:
    """Discard one dead letter with a reason (as ``POST /dead-letters/{id}/discard``)."""
    check_csrf(signed_in, csrf, Scope.TRIGGER)
    api.discard_one(dead_letter_id, api.DiscardIn(reason=reason), signed_in.token, ctx)
    return RedirectResponse("/ui/dead-letters", status_code=303)
