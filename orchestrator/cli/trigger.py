"""``sluice trigger PIPELINE [--branch B] [--commit SHA] [--var K=V] [--urgent] [--watch]``.

With ``--watch`` it shows the DAG, then each stage's state as it changes, and exits with
the run's final status: 0 success, 1 failed, 2 cancelled (3 rejected or unknown).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from orchestrator.client import (
    ApiError,
    Client,
    add_connection_args,
    client_from_args,
    print_json,
    run_cli,
)

__all__ = ["EXIT_BY_STATUS", "main", "register", "watch"]

EXIT_BY_STATUS = {"success": 0, "failed": 1, "cancelled": 2}
_POLL_S = 0.5


def register(subparsers: Any) -> None:
    """Add ``sluice trigger`` to the CLI."""
    parser = subparsers.add_parser("trigger", help="start a run of a pipeline")
    parser.add_argument("pipeline_id")
    parser.add_argument("--branch", help="branch (default: the pipeline's default branch)")
    parser.add_argument("--commit", help="commit SHA (default: the branch's head)")
    parser.add_argument("--var", action="append", default=[], metavar="K=V", help="variable")
    parser.add_argument("--urgent", action="store_true", help="run at high priority")
    parser.add_argument("--watch", action="store_true", help="follow the run to its end")
    add_connection_args(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Trigger a run; with ``--watch`` the exit status is the run's final status."""
    return run_cli("trigger", lambda: _trigger(args))


def _variables(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ApiError(0, f"--var {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def _trigger(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        return _start(client, args)


def _start(client: Client, args: argparse.Namespace) -> int:
    pipeline = client.pipelines()
    found = next((p for p in pipeline if p["pipeline_id"] == args.pipeline_id), None)
    if found is None:
        raise ApiError(404, f"pipeline {args.pipeline_id!r} not found")
    branch = args.branch or found["default_branch"]
    commit = args.commit or _head(found["repo_url"], branch)
    run = client.trigger(
        args.pipeline_id,
        branch=branch,
        commit_sha=commit,
        variables=_variables(args.var),
        urgent=args.urgent,
    )
    if args.json and not args.watch:
        print_json(run)
        return 0
    print(f"run {run['run_id']} {run['status']}  {run['web_url']}")
    return watch(client, run["run_id"], as_json=args.json) if args.watch else 0


def _head(repo_url: str, branch: str) -> str:
    from orchestrator.api.schedules import branch_head  # noqa: PLC0415 (CLI start-up: load only what runs)

    return branch_head(repo_url, branch)


def watch(client: Client, run_id: str, *, as_json: bool = False) -> int:
    """Show the run's DAG and stage states until it ends; its exit status."""
    shown: dict[str, str] = {}
    drawn = False
    while True:
        run = client.run(run_id)
        if not drawn and run["stages"]:
            print(_dag(run["stages"]))
            drawn = True
        for stage in run["stages"]:
            if shown.get(stage["name"]) != stage["status"]:
                shown[stage["name"]] = stage["status"]
                print(f"  {time.strftime('%H:%M:%S')} {stage['name']:<24} {stage['status']}")
        if run["status"] in EXIT_BY_STATUS:
            print_json(run) if as_json else print(f"run {run_id} {run['status']}")
            return EXIT_BY_STATUS[run["status"]]
        time.sleep(_POLL_S)


def _dag(stages: list[dict[str, Any]]) -> str:
    """The stages by level: each level needs only stages of earlier levels."""
    level: dict[str, int] = {}
    for stage in stages:  # declaration order is a topological order here
        needs = [level.get(n, 0) for n in stage["needs"]]
        level[stage["name"]] = 1 + max(needs, default=-1)
    rows: dict[int, list[str]] = {}
    for name, depth in level.items():
        rows.setdefault(depth, []).append(name)
    return " → ".join(" ∥ ".join(rows[d]) for d in sorted(rows))
