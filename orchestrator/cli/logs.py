"""``sluice logs RUN [-f] [--stage S [--attempt N]] [--grep TEXT]``: a run's log, or follow
it live (reconnecting after a dropped connection from where it stopped), or one attempt's
log, or the lines containing TEXT (ignoring case) as ``stage#attempt:line: text``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from orchestrator.client import (
    ApiUnavailable,
    Client,
    add_connection_args,
    client_from_args,
    print_json,
    run_cli,
)

__all__ = ["main", "register"]

_RECONNECTS = 5


def register(subparsers: Any) -> None:
    """Add ``sluice logs`` to the CLI."""
    parser = subparsers.add_parser("logs", help="print or follow a run's log")
    parser.add_argument("run_id")
    parser.add_argument("-f", "--follow", action="store_true", help="follow until the run ends")
    parser.add_argument("--stage", help="only this stage")
    parser.add_argument("--attempt", type=int, help="this attempt of --stage (default: all)")
    parser.add_argument("--grep", metavar="TEXT", help="only the lines containing TEXT")
    add_connection_args(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print (or follow) the log."""
    return run_cli("logs", lambda: _logs(args))


def _logs(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        if args.grep:
            return _grep(client, args)
        if not args.follow:
            sys.stdout.write(client.logs(args.run_id, stage=args.stage, attempt=args.attempt))
            return 0
        return _follow(client, args.run_id, args.stage)


def _grep(client: Client, args: argparse.Namespace) -> int:
    matches = client.search_logs(args.run_id, args.grep, stage=args.stage)
    if args.json:
        print_json(matches)
    for m in [] if args.json else matches:
        sys.stdout.write(f"{m['stage']}#{m['attempt']}:{m['line_no']}: {m['line']}\n")
    return 0 if matches else 1


def _follow(client: Client, run_id: str, stage: str | None) -> int:
    last: str | None = None
    for attempt in range(_RECONNECTS + 1):
        try:
            for event in client.follow(run_id, stage=stage, last_event_id=last):
                if event.event == "end":
                    return 0
                last = event.id or last
                sys.stdout.write(event.data)
                sys.stdout.flush()
            return 0
        except ApiUnavailable:
            if attempt == _RECONNECTS:
                raise
    return 0
