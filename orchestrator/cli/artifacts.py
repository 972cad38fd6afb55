"""``sluice artifacts list|download RUN``: a run's artifacts; downloads verify SHA-256."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator.client import (
    ApiError,
    Client,
    add_connection_args,
    client_from_args,
    print_json,
    run_cli,
)

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice artifacts`` to the CLI."""
    parser = subparsers.add_parser("artifacts", help="list or download a run's artifacts")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list a run's artifacts")
    get = actions.add_parser("download", help="download a run's artifacts (SHA-256 checked)")
    get.add_argument("--name", help="only the artifact of this name")
    get.add_argument("--dest", type=Path, default=Path.cwd(), help="folder (default: here)")
    for p in (listing, get):
        p.add_argument("run_id")
        add_connection_args(p)
        p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """List or download."""
    return run_cli("artifacts", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        return _act(client, args)


def _act(client: Client, args: argparse.Namespace) -> int:
    found = client.artifacts(args.run_id)
    if args.action == "list":
        if args.json:
            print_json(found)
        for a in [] if args.json else found:
            print(f"{a['name']:<32} {a['size']:>12}  {a['stage']:<16} {a['sha256'][:16]}")
        return 0
    chosen = [a for a in found if args.name in (None, a["name"])]
    if not chosen:
        raise ApiError(404, f"run {args.run_id} has no artifact {args.name or ''}".strip())
    for artifact in chosen:
        path = client.download(artifact, args.dest)
        print(f"{path}  sha256 {artifact['sha256']} verified")
    return 0
