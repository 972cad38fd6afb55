"""``sluice status RUN``: a run and its stages."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.client import add_connection_args, client_from_args, print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice status`` to the CLI."""
    parser = subparsers.add_parser("status", help="show a run and its stages")
    parser.add_argument("run_id")
    add_connection_args(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print the run."""
    return run_cli("status", lambda: _status(args))


def _status(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        run = client.run(args.run_id)
    if args.json:
        print_json(run)
        return 0
    print(
        f"run {run['run_id']}  {run['status']}  {run['pipeline_id']} {run['branch']}@"
        f"{(run['commit_sha'] or '')[:10]}"
    )
    for s in run["stages"]:
        extra = f"  exit {s['exit_code']}" if s["exit_code"] is not None else ""
        print(f"  {s['name']:<24} {s['status']:<10} attempt {s['attempt']}{extra}")
    return 0
