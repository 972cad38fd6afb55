"""``sluice replay``: rebuild the read models from offset 0, and verify them against the live.

``sluice replay --verify`` does, for every projection of ``projections.registry``: rebuild into
a scratch schema up to exactly the offsets the live projection has committed, compare every
table row for row (every row: nothing is filtered out), print the counts (or a few differing
rows per table); it exits 0 when all are identical, 1 otherwise; the scratch schemas are
dropped unless ``--keep``. ``sluice replay --into SCHEMA`` only rebuilds (to the log's end).
Progress goes to stderr about once a second.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

if TYPE_CHECKING:  # for annotations only: the CLI imports projections when a command runs
    from projections.replay import VerifyReport

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
    # imported when the command runs: the CLI loads only what a sub-command needs
    from projections.registry import REGISTERED  # noqa: PLC0415
    from projections.replay import rebuild  # noqa: PLC0415

    for projection in REGISTERED:
        stats = rebuild(
            settings, schema=schema, prefix=prefix, progress=_progress, projection=projection
        )
        print(
            f"rebuilt {projection.name} in {schema}: {stats.messages} events in"
            f" {stats.seconds:.2f} s ({stats.per_second:,.0f} events/s),"
            f" {stats.malformed} malformed skipped"
        )
    return 0


def _verify(settings: ServiceSettings, live: str, prefix: str, *, keep: bool) -> int:
    from projections.registry import REGISTERED  # noqa: PLC0415 (as above)
    from projections.replay import verify  # noqa: PLC0415

    identical = True
    for projection in REGISTERED:
        report = verify(
            settings,
            projection=projection,
            live_schema=live,
            prefix=prefix,
            keep=keep,
            progress=_progress,
        )
        _print_report(report, keep=keep)
        identical = identical and report.identical
    return 0 if identical else 1


def _print_report(report: VerifyReport, *, keep: bool) -> None:
    stats = report.stats
    committed = sum(report.offsets.values())
    print(f"projection {report.projection}:")
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
    name = report.projection
    print(f"{name} identical to its replay" if report.identical else f"{name} DIFFERS")
