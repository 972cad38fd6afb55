"""The run page's lazily loaded part read from Kafka: the exact history (the lines
``sluice events`` prints) and the waterfall drawn from the same events."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from orchestrator.api.auth import context
from orchestrator.api.context import Context
from orchestrator.ui.pages import load_run, page
from orchestrator.ui.session import Session, session
from orchestrator.ui.waterfall import Bar, bars
from schemas.history import format_line, history

__all__ = ["router"]

router = APIRouter(prefix="/ui/pipelines/{pipeline_id}/runs/{run_id}", include_in_schema=False)
Ctx = Annotated[Context, Depends(context)]
Signed = Annotated[Session, Depends(session)]
_WIDTH = 600


@router.get("/history")
def history_part(
    request: Request, pipeline_id: str, run_id: str, *, ctx: Ctx, signed_in: Signed
) -> HTMLResponse:
    """The history lines and the waterfall of attempts (an htmx fragment)."""
    load_run(ctx, signed_in, pipeline_id, run_id)
    entries = list(history(ctx.settings, run_id, prefix=ctx.settings.topic_prefix))
    timed = [
        (e.event, e.fields["stage"], e.fields["attempt"], e.fields["occurred_at_ms"])
        for e in entries
        if "stage" in e.fields and "attempt" in e.fields
    ]
    drawn = bars(timed)
    return page(
        request,
        "_history.html",
        signed_in,
        lines=[format_line(e) for e in entries],
        bars=_scaled(drawn, time.time_ns() // 1_000_000),
    )


def _scaled(drawn: list[Bar], now_ms: int) -> list[dict[str, object]]:
    """Each bar's waiting and running segments in pixels of one shared time axis (an
    attempt still going is drawn up to ``now_ms``)."""
    if not drawn:
        return []
    start = min(b.queued_ms for b in drawn)
    end = max(max(b.queued_ms, b.claimed_ms or 0, b.ended_ms or now_ms) for b in drawn)
    scale = _WIDTH / max(1, end - start)
    out = []
    for b in drawn:
        claimed = b.claimed_ms if b.claimed_ms is not None else (b.ended_ms or end)
        finished = b.ended_ms if b.ended_ms is not None else end
        out.append(
            {
                "bar": b,
                "wait_x": round((b.queued_ms - start) * scale),
                "wait_w": max(1, round((claimed - b.queued_ms) * scale)),
                "run_x": round((claimed - start) * scale),
                "run_w": max(1, round((finished - claimed) * scale)) if b.claimed_ms else 0,
                "wait_s": (claimed - b.queued_ms) / 1000,
                "run_s": (finished - claimed) / 1000 if b.claimed_ms else None,
            }
        )
    return out
