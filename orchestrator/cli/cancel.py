"""``sluice cancel RUN``: ask to cancel a run."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.client import add_connection_args, client_from_args, print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice cancel`` to the CLI."""
    parser = subparsers.add_parser("cancel", help="cancel a run")
    parser.add_argument("run_id")
    add_connection_args(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Send the cancel request."""

    def cancel() -> int:
        with client_from_args(args) as client:
            answer = client.cancel(args.run_id)
        print_json(answer) if args.json else print(f"run {args.run_id}: {answer['status']}")
        return 0

    return run_cli("cancel", cancel)
