"""The pages: pipelines, runs, one run, runners; and sign-in. Server-rendered (Jinja2),
with scopes and per-pipeline access exactly as the API applies them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from orchestrator.api import artifacts, queries
from orchestrator.api.auth import context, within_rate
from orchestrator.api.context import Context
from orchestrator.api.tokens import Scope, lookup_token
from orchestrator.api.trigger import read_run
from orchestrator.domain.flaky import FlakyRule
from orchestrator.domain.layout import StageBox, layout
from orchestrator.ui import present, reads
from orchestrator.ui.loglines import lines_of
from orchestrator.ui.session import COOKIE, SESSION_HOURS, Session, seal, session, sign_in_key
from orchestrator.ui.slots import slots
from projections.flaky_history import judged_flaky

__all__ = ["router", "templates"]

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals.update(when=present.when, span=present.span, Scope=Scope)
Ctx = Annotated[Context, Depends(context)]
Signed = Annotated[Session, Depends(session)]
Row = dict[str, Any]
PAGE = 25


def _now() -> datetime:
    return datetime.now(UTC)


def page(request: Request, name: str, signed_in: Session | None, **values: Any) -> HTMLResponse:
    """Render template ``name`` with the common values."""
    values.update(request=request, session=signed_in, now=_now())
    return templates.TemplateResponse(request, name, values)


@router.get("/login")
def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
    """The sign-in page: one field, the API token."""
    return page(request, "login.html", None, next=_local(next), error=None)


@router.post("/login")
def login(
    request: Request,
    *,
    ctx: Ctx,
    token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/ui/",
) -> Response:
    """Check the token and set the session cookie; the form again on a bad token."""
    with ctx.db.connection() as conn:
        info = lookup_token(conn, token.strip())
    if info is None or not info.allows(Scope.READ):
        within_rate(ctx, sign_in_key(request))
        error = "unknown, revoked or read-less token; create one with `sluice tokens create`"
        return page(request, "login.html", None, next=_local(next), error=error)
    answer = RedirectResponse(_local(next), status_code=303)
    answer.set_cookie(
        COOKIE,
        seal(ctx, token.strip()),
        max_age=SESSION_HOURS * 3600,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=ctx.api.base_url.startswith("https://"),
    )
    return answer


@router.post("/logout")
def logout() -> Response:
    """Forget the session cookie (the token itself stays valid)."""
    answer = RedirectResponse("/ui/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/ui")
    return answer


def _local(target: str) -> str:
    """Only same-site paths under /ui (no open redirect)."""
    return target if target.startswith("/ui") and not target.startswith("//") else "/ui/"


@router.get("/")
def pipelines_page(request: Request, *, ctx: Ctx, signed_in: Signed) -> HTMLResponse:
    """Every pipeline the token sees, with the last run of each branch."""
    seen = signed_in.token.pipelines
    with ctx.db.connection() as conn:
        rows = [p for p in queries.pipelines(conn) if signed_in.token.sees(p["pipeline_id"])]
        last = reads.last_runs_per_branch(conn, seen)
    by_pipeline: dict[str, list[Row]] = {}
    for r in last:
        by_pipeline.setdefault(r["pipeline_id"], []).append(r)
    partial = request.headers.get("HX-Request") == "true"
    name = "_pipelines.html" if partial else "pipelines.html"
    return page(request, name, signed_in, pipelines=rows, last=by_pipeline)


@router.get("/runs")
def runs_page(
    request: Request,
    *,
    ctx: Ctx,
    signed_in: Signed,
    pipeline: str = "",
    status: str = "",
    branch: str = "",
    cursor: str = "",
) -> HTMLResponse:
    """Runs the token sees, newest first, filtered, ``PAGE`` at a time."""
    if pipeline:
        signed_in.sees(pipeline)
    after = queries.decode_cursor(cursor) if cursor else None
    with ctx.db.connection() as conn:
        rows = reads.runs(
            conn,
            signed_in.token.pipelines,
            limit=PAGE + 1,
            pipeline=pipeline or None,
            status=status or None,
            branch=branch or None,
            after=after,
        )
    more, rows = len(rows) > PAGE, rows[:PAGE]
    next_cursor = queries.encode_cursor(rows[-1]["created_at"], rows[-1]["run_id"]) if more else ""
    filters = {"pipeline": pipeline, "status": status, "branch": branch}
    partial = request.headers.get("HX-Request") == "true"
    name = "_runs.html" if partial else "runs.html"
    return page(request, name, signed_in, runs=rows, filters=filters, next_cursor=next_cursor)


def load_run(
    ctx: Context, signed_in: Session, pipeline_id: str, run_id: str
) -> tuple[Row, list[Row]]:
    """The run and its stages, or 404 (also for a pipeline the token may not see)."""
    signed_in.sees(pipeline_id)

    def read() -> tuple[Row, list[Row]] | None:
        with ctx.db.connection() as conn:
            run = queries.run(conn, run_id)
            return None if run is None else (run, queries.stages_of(conn, run_id))

    found = read_run(ctx, run_id, read)  # a page opened right after the 201 shows the run
    if found is None or found[0]["pipeline_id"] != pipeline_id:
        raise HTTPException(404, f"run {run_id!r} not found")
    return found


@router.get("/pipelines/{pipeline_id}/runs/{run_id}")
def run_page(
    request: Request, pipeline_id: str, run_id: str, *, ctx: Ctx, signed_in: Signed, stage: str = ""
) -> HTMLResponse:
    """The run page: header, failure, DAG, stages, log, artifacts, waterfall and history."""
    run, stages = load_run(ctx, signed_in, pipeline_id, run_id)
    with ctx.db.connection() as conn:
        artifacts = queries.artifacts_of(conn, run_id)
        tests = reads.test_results(conn, run_id)
        failures = sorted({name for t in tests for name in t["failures"]})
        flaky = judged_flaky(conn, pipeline_id, FlakyRule(), tests=failures) if failures else {}
    drawn = layout([StageBox(s["name"], tuple(s["needs"]), s["status"]) for s in stages])
    return page(
        request,
        "run.html",
        signed_in,
        run=run,
        stages=stages,
        dag=drawn,
        artifacts=artifacts,
        tests=tests,
        flaky={name: j.failure_rate for name, j in flaky.items()},
        failure=_failure(ctx, run, stages),
        selected=present.chosen_stage(stages, stage),
        can_trigger=signed_in.can(Scope.TRIGGER),
    )


def _failure(ctx: Context, run: Row, stages: list[Row]) -> present.Failure | None:
    """The first failed stage with its reason and first error line (failed runs only)."""
    failed = next((s for s in stages if s["status"] == "failed"), None)
    if run["status"] != "failed" or failed is None:
        return None
    found = present.first_error(lines_of(ctx, run, failed).lines)
    reason = failed["reason"] or run["reason"] or "failed"
    if found is None:
        return present.Failure(failed["name"], reason, None, None)
    return present.Failure(failed["name"], reason, found[0], found[1])


@router.get("/pipelines/{pipeline_id}/runs/{run_id}/state")
def run_state(pipeline_id: str, run_id: str, *, ctx: Ctx, signed_in: Signed) -> JSONResponse:
    """What the open run page refreshes: the run's and every stage's and node's status,
    and the times that grow while the run goes on (``times``: the run's total and queue
    time, each stage's wait and run time, as the page shows them)."""
    run, stages = load_run(ctx, signed_in, pipeline_id, run_id)
    nodes = layout([StageBox(s["name"], tuple(s["needs"]), s["status"]) for s in stages]).boxes
    return JSONResponse(
        {
            "status": run["status"],
            "stages": {s["name"]: [s["status"], s["attempt"]] for s in stages},
            "nodes": {b.node.id: [b.node.status, _counts(b.node.counts)] for b in nodes},
            "times": _times(run, stages, _now()),
        },
        headers={"Cache-Control": "no-store"},
    )


def _times(run: Row, stages: list[Row], now: datetime) -> dict[str, Any]:
    span = present.span
    return {
        "total": span(run["created_at"], run["finished_at"], now),
        "queue": span(run["created_at"], run["started_at"], now),
        "stages": {
            s["name"]: [
                span(s["queued_at"], s["started_at"], now),
                span(s["started_at"], s["finished_at"], now),
            ]
            for s in stages
        },
    }


def _counts(counts: tuple[tuple[str, int], ...]) -> str:
    return " ".join(f"{n} {s}" for s, n in counts)


@router.get("/artifacts/{artifact_id}")
def artifact_download(artifact_id: str, *, ctx: Ctx, signed_in: Signed) -> Response:
    """An artifact's bytes, exactly as the API serves them to this token."""
    return artifacts.download_artifact(artifact_id, signed_in.token, ctx)


@router.get("/runners")
def runners_page(request: Request, *, ctx: Ctx, signed_in: Signed) -> HTMLResponse:
    """Runners: slots busy/free (their Prometheus gauges) and the stages they run now."""
    with ctx.db.connection() as conn:
        busy = reads.busy_runners(conn, signed_in.token.pipelines)
    found, error = slots(ctx.settings.prometheus_url)
    partial = request.headers.get("HX-Request") == "true"
    name = "_runners.html" if partial else "runners.html"
    return page(request, name, signed_in, slots=found, slots_error=error, busy=busy)
