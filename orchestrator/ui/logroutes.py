"""The log view's routes: numbered line ranges and search (windowed rendering fetches only
what is on screen), the download, and the live SSE stream (the API's own follower, with
``Last-Event-ID`` resume; also as ``last_event_id=`` for a page that reopens the stream)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from orchestrator.api import queries
from orchestrator.api.auth import context
from orchestrator.api.context import Context
from orchestrator.api.logs import stream
from orchestrator.api.trigger import read_run
from orchestrator.ui.loglines import lines_of, search
from orchestrator.ui.session import Session, session

__all__ = ["router"]

router = APIRouter(prefix="/ui/runs/{run_id}/logs", include_in_schema=False)
Ctx = Annotated[Context, Depends(context)]
Signed = Annotated[Session, Depends(session)]
StageName = Annotated[str, Query(max_length=200)]
Row = dict[str, Any]
MAX_RANGE = 2000


def _stage(ctx: Context, signed_in: Session, run_id: str, stage: str) -> tuple[Row, Row]:
    def read() -> tuple[Row, list[Row]] | None:
        with ctx.db.connection() as conn:
            run = queries.run(conn, run_id)
            return None if run is None else (run, queries.stages_of(conn, run_id))

    loaded = read_run(ctx, run_id, read)
    if loaded is None:
        raise HTTPException(404, f"run {run_id!r} not found")
    run, stages = loaded
    signed_in.sees(run["pipeline_id"])
    found = next((s for s in stages if s["name"] == stage), None)
    if found is None:
        raise HTTPException(404, f"stage {stage!r} of run {run_id} not found")
    return run, found


@router.get("/lines")
def line_range(
    run_id: str,
    stage: StageName,
    *,
    ctx: Ctx,
    signed_in: Signed,
    start: Annotated[int, Query(ge=0)] = 0,
    count: Annotated[int, Query(ge=0, le=MAX_RANGE)] = 200,
) -> JSONResponse:
    """Lines ``start`` (0-based) to ``start + count`` of one stage's log, and the total."""
    run, row = _stage(ctx, signed_in, run_id, stage)
    log = lines_of(ctx, run, row)
    body = {
        "total": len(log.lines),
        "start": start,
        "lines": log.lines[start : start + count],
        "archived": log.archived,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/search")
def find(
    run_id: str,
    stage: StageName,
    *,
    ctx: Ctx,
    signed_in: Signed,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> JSONResponse:
    """1-based numbers of the lines that contain ``q`` (first ``limit``), and the count."""
    run, row = _stage(ctx, signed_in, run_id, stage)
    found, total = search(lines_of(ctx, run, row).lines, q, limit)
    return JSONResponse({"matches": found, "total": total})


@router.get("/download")
def download(run_id: str, stage: StageName, *, ctx: Ctx, signed_in: Signed) -> PlainTextResponse:
    """The stage's whole log as a text file."""
    run, row = _stage(ctx, signed_in, run_id, stage)
    text = "".join(f"{line}\n" for line in lines_of(ctx, run, row).lines)
    name = f"{run_id}-{stage}.log".replace(" ", "_").replace('"', "")
    return PlainTextResponse(
        text, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/stream")
def live(
    run_id: str,
    stage: StageName,
    *,
    ctx: Ctx,
    signed_in: Signed,
    last_event_id: Annotated[str | None, Query(max_length=4096)] = None,
    header_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=4096)] = None,
) -> StreamingResponse:
    """The stage's log as Server-Sent Events, from the start or after the last event seen."""
    run, _ = _stage(ctx, signed_in, run_id, stage)
    return stream(ctx, run, stage, header_id or last_event_id)
