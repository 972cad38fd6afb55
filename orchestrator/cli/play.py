"""``sluice play RUN STAGE``: start a ``when: manual`` stage that waits for a person."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.client import add_connection_args, client_from_args, print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice play`` to the CLI."""
    parser = subparsers.add_parser(
        "play",
        help="start a manual stage (a deploy to a protected environment needs deploy:<env>)",
    )
    parser.add_argument("run_id")
    parser.add_argument("stage")
    add_connection_args(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Send the play request; who played it is recorded as the token's name."""

    def play() -> int:
        with client_from_args(args) as client:
            answer = client.play(args.run_id, args.stage)
        print_json(answer) if args.json else print(
            f"{args.run_id}/{args.stage}: {answer['status']}"
        )
        return 0

    return run_cli("play", play)
