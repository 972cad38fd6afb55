"""``sluice replay``: rebuild the read model from offset 0, and verify it against the live one.

``sluice replay --verify`` rebuilds into a scratch schema up to exactly the offsets the live
projection has committed, compares every table row for row, prints the counts (or a few
differing rows per table) and exits 0 when identical, 1 otherwise; the scratch schema is
dropped unless ``--keep``. ``sluice replay --into SCHEMA`` only rebuilds (to the log's end).
Progress goes to stderr about once a second.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``sluice replay`` to the CLI."""
    parser = subparsers.add_parser(
        "replay", help="rebuild the read model from sluice.runs; --verify diffs it with the live"
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--verify", action="store_true", help="rebuild and compare with the live")
    mode.add_argument(
        "--into", metavar="SCHEMA", help="rebuild into SCHEMA only (resumes where it stopped)"
    )
    parser.add_argument("--schema", default="public", help="the live schema (default: public)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch schema")
    parser.add_argument("--prefix", help="topic name prefix (default: SLUICE_TOPIC_PREFIX)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``sluice replay``: 0 identical (or rebuilt), 1 different, 2 on errors."""
    settings = ServiceSettings.from_env()
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    try:
        if args.into:
            return _rebuild(settings, args.into, prefix)
        return _verify(settings, args.schema, prefix, keep=args.keep)
    except SluiceError as e:
        print(f"sluice replay: {e}", file=sys.stderr)
        return 2


def _progress(events: int, seconds: float) -> None:
    print(f"replayed {events} events ({events / seconds:,.0f} events/s)", file=sys.stderr)


def _rebuild(settings: ServiceSettings, schema: str, prefix: str) -> int:
    # orchestrator/ may not import projections/ at module level; the CLI, its composition
    # root, reaches it only when the command runs
    from projections.replay import rebuild  # noqa: PLC0415

    stats = rebuild(settings, schema=schema, prefix=prefix, progress=_progress)
    print(
        f"rebuilt {schema}: {stats.messages} events in {stats.seconds:.2f} s"
        f" ({stats.per_second:,.0f} events/s), {stats.malformed} malformed skipped"
    )
    return 0


def _verify(settings: ServiceSettings, live: str, prefix: str, *, keep: bool) -> int:
    from projections.replay import verify  # noqa: PLC0415

    report = verify(settings, live_schema=live, prefix=prefix, keep=keep, progress=_progress)
    stats = report.stats
    committed = sum(report.offsets.values())
    print(f"live projection committed {committed} offsets over {len(report.offsets)} partitions")
    print(
        f"replayed {stats.messages} events in {stats.seconds:.2f} s"
        f" ({stats.per_second:,.0f} events/s) into {report.scratch_schema}"
        + (" (kept)" if keep else "")
    )
    for diff in report.tables:
        verdict = "identical" if diff.identical else "DIFFERENT"
        print(f"{diff.table}: {diff.live_rows} live, {diff.replayed_rows} replayed, {verdict}")
        for side, rows in (("only live", diff.only_live), ("only replayed", diff.only_replayed)):
            for row in rows:
                shown = ", ".join(f"{c}={v!r}" for c, v in zip(diff.columns, row, strict=True))
                print(f"  {side}: {shown}")
    print("read model identical to its replay" if report.identical else "read model DIFFERS")
    return 0 if report.identical else 1
