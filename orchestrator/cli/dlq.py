"""``sluice dlq list|show|redrive|discard``: work the dead letters through the API."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from orchestrator.client import (
    Client,
    add_connection_args,
    client_from_args,
    print_json,
    run_cli,
)
from schemas.errors import SluiceError

__all__ = ["DlqUsage", "main", "register"]


class DlqUsage(SluiceError):
    """``sluice dlq redrive`` needs dead-letter ids, or ``--all`` with or without filters."""


def register(subparsers: Any) -> None:
    """Add ``sluice dlq`` and its four sub-commands to the CLI."""
    parser = subparsers.add_parser("dlq", help="list, show, redrive or discard dead letters")
    actions = parser.add_subparsers(dest="dlq_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="dead letters, oldest first")
    _filters(listing)
    listing.add_argument(
        "--status", default="dead", choices=("dead", "redriven", "discarded", "all")
    )
    show = actions.add_parser("show", help="one dead letter with its attempts and log links")
    show.add_argument("dead_letter_id")
    redrive = actions.add_parser("redrive", help="start a fresh attempt of dead-lettered stages")
    redrive.add_argument("dead_letter_ids", nargs="*", metavar="ID")
    redrive.add_argument("--all", action="store_true", help="every open one matching the filters")
    _filters(redrive)
    discard = actions.add_parser("discard", help="mark a dead letter dealt with, with a reason")
    discard.add_argument("dead_letter_id")
    discard.add_argument("--reason", required=True)
    for sub in (listing, show, redrive, discard):
        add_connection_args(sub)
        sub.set_defaults(func=main)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline", help="only this pipeline's")
    parser.add_argument("--reason", help="only those whose reason contains this text")
    parser.add_argument("--older-than", help="only those older than a duration (30m, 2h, 1d)")


def main(args: argparse.Namespace) -> int:
    """Do the chosen action and print its answer."""

    def act() -> int:
        with client_from_args(args) as client:
            answer = _ACTIONS[args.dlq_action](client, args)
        if args.json:
            print_json(answer)
        else:
            _print(args.dlq_action, answer)
        return 0

    return run_cli("dlq", act)


def _list(client: Client, args: argparse.Namespace) -> Any:
    return client.dead_letters(
        pipeline=args.pipeline, reason=args.reason, older_than=args.older_than, status=args.status
    )


def _redrive(client: Client, args: argparse.Namespace) -> Any:
    if args.dead_letter_ids and args.all:
        raise DlqUsage("give dead-letter ids or --all, not both")
    if args.dead_letter_ids:
        ids = [client.redrive(i)["dead_letter_ids"][0] for i in args.dead_letter_ids]
        return {"dead_letter_ids": ids, "status": "redrive requested"}
    if not args.all:
        raise DlqUsage("name the dead letters to redrive, or --all (with --pipeline etc.)")
    filters = {"pipeline": args.pipeline, "reason": args.reason, "older_than": args.older_than}
    return client.redrive_many(**filters)


def _show(client: Client, args: argparse.Namespace) -> Any:
    return client.dead_letter(args.dead_letter_id)


def _discard(client: Client, args: argparse.Namespace) -> Any:
    return client.discard(args.dead_letter_id, args.reason)


_ACTIONS: dict[str, Callable[[Client, argparse.Namespace], Any]] = {
    "list": _list,
    "show": _show,
    "redrive": _redrive,
    "discard": _discard,
}


def _print(action: str, answer: Any) -> None:
    if action == "list":
        for d in answer:
            print(
                f"{d['dead_letter_id']}  {d['status']:<9} {d['pipeline_id'] or '-'}"
                f"  {d['run_id']}/{d['stage']}#{d['attempt']}  {d['dead_at']}  {d['reason']}"
            )
        print(f"{len(answer)} dead letter(s)")
    elif action == "show":
        print(f"{answer['dead_letter_id']}: {answer['run_id']}/{answer['stage']}")
        print(f"  status {answer['status']}  pipeline {answer['pipeline_id']}")
        print(f"  dead at {answer['dead_at']}: {answer['reason']}")
        if answer["resolved_by"]:
            print(
                f"  {answer['status']} by {answer['resolved_by']} {answer['resolved_reason'] or ''}"
            )
        for a in answer["attempts"]:
            print(f"  attempt {a['attempt']} ({a['runner_id']}): {a['reason']}  log {a['log_url']}")
    else:
        ids = answer["dead_letter_ids"]
        print(f"{answer['status']}: {len(ids)} dead letter(s) {' '.join(ids)}")
