"""``sluice audit [--actor A] [--subject S] [--action X] [--since T]``: the audit trail
(``GET /audit``, an admin token), newest first: time, outcome, actor, action, subject."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from orchestrator.client import add_connection_args, client_from_args, print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice audit`` to the CLI."""
    parser = subparsers.add_parser("audit", help="who read or changed what, and who was denied")
    parser.add_argument("--actor", help="e.g. token:<id>, runner:<id>, cli:<user>@<host>")
    parser.add_argument("--subject", help="e.g. secret/<pipeline>/<name> or a pipeline id")
    parser.add_argument("--action", help="e.g. secret.read, secret.set, pipeline.update")
    parser.add_argument("--since", help="ISO time, e.g. 2026-12-01T00:00:00Z")
    parser.add_argument("--limit", type=int, default=100)
    add_connection_args(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print the matching records."""
    return run_cli("audit", lambda: _audit(args))


def _audit(args: argparse.Namespace) -> int:
    filters = {k: getattr(args, k) for k in ("actor", "subject", "action", "since", "limit")}
    with client_from_args(args) as client:
        records = client.audit(**filters)
    if args.json:
        print_json(records)
        return 0
    for r in records:
        where = f" ({_detail(r['detail'])})" if r["detail"] else ""
        line = f"{r['occurred_at']}\t{r['outcome']}\t{r['actor']}\t{r['action']}\t{r['subject']}"
        sys.stdout.write(line + where + "\n")
    return 0


def _detail(detail: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(detail.items()))
