"""``sluice gc``: expire artifacts past their retention (``ArtifactExpired`` on the inbox,
then the object is deleted; the read-model row stays, marked expired, and answers 410), and
archive the logs of attempts whose runner died before archiving them (``LogArchived``).
The API also runs it every ``SLUICE_API_GC_INTERVAL`` seconds."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.client import print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice gc`` to the CLI."""
    parser = subparsers.add_parser("gc", help="expire artifacts past their retention")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Sweep once."""
    return run_cli("gc", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from minio import Minio  # noqa: PLC0415 (the CLI loads only what it runs)

    from orchestrator.api.db import Database  # noqa: PLC0415
    from orchestrator.api.log_archiver import archive_stranded_logs  # noqa: PLC0415
    from orchestrator.api.retention import collect_garbage  # noqa: PLC0415
    from orchestrator.api.settings import ApiSettings  # noqa: PLC0415
    from schemas.eventlog import TopicNames, producer  # noqa: PLC0415
    from schemas.settings import ServiceSettings  # noqa: PLC0415

    settings = ServiceSettings.from_env()
    db = Database(dsn=settings.pg_dsn, schema=ApiSettings.from_env().pg_schema)
    s3 = Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
    )
    try:
        inbox = TopicNames(settings.topic_prefix).inbox
        out = producer(settings)
        deleted = collect_garbage(db, s3, out, inbox=inbox)
        logs = archive_stranded_logs(  # the runners' object keys start with the prefix too
            db, s3, out, inbox=inbox, bucket=settings.log_bucket, key_prefix=settings.topic_prefix
        )
    finally:
        db.close()
    if args.json:
        print_json({"deleted": deleted, "logs_archived": logs})
    else:
        print(f"deleted {deleted} expired artifacts; archived {logs} logs no runner archived")
    return 0
