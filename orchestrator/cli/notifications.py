"""``sluice notifications subscribe|unsubscribe|list|log``: who hears about which runs, and how.

``subscribe`` adds a webhook (signed with HMAC-SHA256; the signing secret is read from
stdin with ``--secret-stdin`` or generated and printed ONCE), a Slack incoming webhook, or
an e-mail address; ``unsubscribe`` stops one. ``list`` shows subscriptions (never
secrets); ``log`` shows every delivery attempt with its outcome. The notifier itself runs
as ``sluice processor notifier``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import psycopg

from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

__all__ = ["register"]

_ALL_EVENTS = (
    "run.succeeded,run.failed,stage.failed,stage.start_timed_out,"
    "deployment.succeeded,deployment.failed,deployment.rolled_back,test.flaky"
)


def register(subparsers: Any) -> None:
    """Add ``notifications`` to the ``sluice`` command line."""
    parser = subparsers.add_parser("notifications", help="webhook, Slack and e-mail notifications")
    parser.add_argument("--schema", default="public", help="PostgreSQL schema of the tables")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = actions.add_parser("subscribe", help="notify a webhook, Slack or an address")
    sub.add_argument("pipeline", help="pipeline id")
    where = sub.add_mutually_exclusive_group(required=True)
    where.add_argument("--webhook", metavar="URL", help="POST signed JSON to URL")
    where.add_argument("--slack", metavar="URL", help="a Slack incoming-webhook URL")
    where.add_argument("--email", metavar="ADDRESS", help="send e-mail to ADDRESS")
    sub.add_argument(
        "--events", default=_ALL_EVENTS, help=f"comma-separated (default {_ALL_EVENTS})"
    )
    sub.add_argument(
        "--secret-stdin", action="store_true", help="read the webhook signing secret from stdin"
    )
    sub.set_defaults(func=_subscribe)
    unsub = actions.add_parser("unsubscribe", help="stop a subscription (pending ones are dropped)")
    unsub.add_argument("subscription_id")
    unsub.set_defaults(func=_unsubscribe)
    list_ = actions.add_parser("list", help="subscriptions (of one pipeline)")
    list_.add_argument("--pipeline")
    list_.set_defaults(func=_list)
    log = actions.add_parser("log", help="every delivery attempt, oldest first")
    log.add_argument("--run", help="only this run's notifications")
    log.add_argument("--limit", type=int, default=200)
    log.set_defaults(func=_log)


def _connect(args: argparse.Namespace) -> psycopg.Connection[Any]:
    from schemas.pg import connect  # noqa: PLC0415 (the CLI loads only what it runs)

    return connect(ServiceSettings.from_env().pg_dsn, schema=args.schema, name="sluice-cli")


def _subscribe(args: argparse.Namespace) -> int:
    from projections.notify_store import (  # noqa: PLC0415 (CLI start-up: load only what runs)
        display_target,
        new_signing_secret,
        subscribe,
    )

    channel, target = _channel(args)
    secret = None
    if channel == "webhook":
        secret = sys.stdin.read().strip() if args.secret_stdin else new_signing_secret()
    events = [e.strip() for e in args.events.split(",") if e.strip()]
    try:
        with _connect(args) as conn:
            sub = subscribe(
                conn,
                pipeline_id=args.pipeline,
                channel=channel,
                target=target,
                events=events,
                signing_secret=secret,
            )
    except SluiceError as e:
        return _fail(e)
    shown = display_target(channel, target)
    print(f"subscribed {sub.subscription_id}: {channel} {shown} on {','.join(sub.events)}")
    if channel == "webhook" and not args.secret_stdin:
        print(f"signing secret (shown once, keep it for verifying signatures): {secret}")
    return 0


def _channel(args: argparse.Namespace) -> tuple[str, str]:
    if args.webhook:
        return "webhook", str(args.webhook)
    if args.slack:
        return "slack", str(args.slack)
    return "email", str(args.email)


def _unsubscribe(args: argparse.Namespace) -> int:
    from projections.notify_store import unsubscribe  # noqa: PLC0415 (CLI start-up: load only what runs)

    try:
        with _connect(args) as conn:
            found = unsubscribe(conn, args.subscription_id)
    except SluiceError as e:
        return _fail(e)
    if not found:
        print(f"sluice notifications: no subscription {args.subscription_id}", file=sys.stderr)
        return 1
    print(f"unsubscribed {args.subscription_id}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from projections.notify_store import display_target, list_subscriptions  # noqa: PLC0415 (CLI start-up: load only what runs)

    try:
        with _connect(args) as conn:
            subs = list_subscriptions(conn, args.pipeline)
    except SluiceError as e:
        return _fail(e)
    for s in subs:
        target = display_target(s.channel, s.target)
        print(f"{s.subscription_id}\t{s.pipeline_id}\t{s.channel}\t{target}\t{','.join(s.events)}")
    return 0


def _log(args: argparse.Namespace) -> int:
    from projections.notify_store import attempts_log  # noqa: PLC0415 (CLI start-up: load only what runs)

    try:
        with _connect(args) as conn:
            attempts = attempts_log(conn, run_id=args.run, limit=args.limit)
    except SluiceError as e:
        return _fail(e)
    for a in attempts:
        print(
            f"{a.attempted_at:%Y-%m-%d %H:%M:%S}\t{a.delivery_id}\t#{a.attempt}\t{a.channel}"
            f"\t{a.event}\trun {a.run_id}\t{a.outcome}\t{a.detail}\t(now {a.status})"
        )
    return 0


def _fail(error: SluiceError) -> int:
    print(f"sluice notifications: {error}", file=sys.stderr)
    return 1
