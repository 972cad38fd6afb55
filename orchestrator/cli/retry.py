"""``sluice retry RUN STAGE``: retry a failed or cancelled stage."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.client import add_connection_args, client_from_args, print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice retry`` to the CLI."""
    parser = subparsers.add_parser("retry", help="retry a failed or cancelled stage")
    parser.add_argument("run_id")
    parser.add_argument("stage")
    add_connection_args(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Send the retry request."""

    def retry() -> int:
        with client_from_args(args) as client:
            answer = client.retry(args.run_id, args.stage)
        print_json(answer) if args.json else print(
            f"{args.run_id}/{args.stage}: {answer['status']}"
        )
        return 0

    return run_cli("retry", retry)
