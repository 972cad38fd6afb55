"""``sluice events RUN_ID``: a run's decoded history from ``sluice.runs``, in log order.

One line per event: offset, time (ISO 8601, UTC), event name and its main fields; ``--json``
prints one JSON object per line instead (every field). See :mod:`schemas.history`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schemas.errors import SluiceError
from schemas.history import format_json, format_line, history
from schemas.settings import ServiceSettings

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``sluice events`` to the CLI."""
    parser = subparsers.add_parser(
        "events", help="print a run's decoded history from sluice.runs, one line per event"
    )
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--prefix", help="topic name prefix (default: SLUICE_TOPIC_PREFIX)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print the history of ``args.run_id``; 1 when the run has no events, 2 on errors."""
    settings = ServiceSettings.from_env()
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    try:
        found = 0
        for entry in history(settings, args.run_id, prefix=prefix):
            print(format_json(entry) if args.json else format_line(entry))
            found += 1
    except SluiceError as e:
        print(f"sluice events: {e}", file=sys.stderr)
        return 2
    if not found:
        print(f"sluice events: no events for run {args.run_id!r}", file=sys.stderr)
        return 1
    return 0
