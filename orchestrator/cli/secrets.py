"""``sluice secrets set|list|delete``: a pipeline's secrets, write-only.

Values are read from stdin (or a prompt that does not echo) and never printed; ``list``
shows names, environments and dates only. ``set`` and ``delete`` append an audit event
(``secret.set`` / ``secret.delete``, by name, actor ``cli:<user>@<host>``) to
``sluice.audit`` and wait for Kafka's acknowledgement before they answer.
"""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

if TYPE_CHECKING:
    from runners.secrets import SecretStore

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``secrets`` to the ``sluice`` command line."""
    parser = subparsers.add_parser(
        "secrets", help="set, list or delete a pipeline's secrets (values are write-only)"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_ = actions.add_parser("set", help="set a secret; the value is read from stdin or a prompt")
    set_.add_argument("pipeline")
    set_.add_argument("name")
    set_.add_argument("--environment", default="", help="only for deploys to this environment")
    set_.set_defaults(func=_set)
    list_ = actions.add_parser("list", help="names and dates of a pipeline's secrets")
    list_.add_argument("pipeline")
    list_.set_defaults(func=_list)
    init = actions.add_parser(
        "init-key", help="make the secrets key, once, on the first host (copy it to the others)"
    )
    init.set_defaults(func=_init_key)
    delete = actions.add_parser("delete", help="delete a secret")
    delete.add_argument("pipeline")
    delete.add_argument("name")
    delete.add_argument("--environment", default="")
    delete.set_defaults(func=_delete)


def _store() -> SecretStore:
    from runners.config import RunnerConfig  # noqa: PLC0415 (the CLI loads only what it runs)
    from runners.secrets import SecretStore, load_key  # noqa: PLC0415

    settings, config = ServiceSettings.from_env(), RunnerConfig.from_env()
    key = load_key(env_key=config.secrets_key, state_dir=config.state_dir)
    return SecretStore(dsn=settings.pg_dsn, key=key, schema=config.pg_schema)


def _init_key(_: argparse.Namespace) -> int:
    from runners.config import RunnerConfig  # noqa: PLC0415 (the CLI loads only what it runs)
    from runners.secrets import init_key  # noqa: PLC0415

    try:
        path = init_key(RunnerConfig.from_env().state_dir)
    except SluiceError as e:
        return _fail(e)
    print(f"made the secrets key {path} (0600): copy it to every other host's state dir")
    return 0


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"value of {name} (not echoed): ")
    return sys.stdin.read().removesuffix("\n")


def _set(args: argparse.Namespace) -> int:
    value = _read_value(args.name)
    if not value:
        print("sluice secrets: refusing to store an empty value", file=sys.stderr)
        return 1
    try:
        _store().set(args.pipeline, args.name, value, environment=args.environment)
        _audit("secret.set", args)
    except SluiceError as e:
        return _fail(e)
    print(f"set {args.name} for {args.pipeline}")
    return 0


def _list(args: argparse.Namespace) -> int:
    try:
        secrets = _store().list_secrets(args.pipeline)
    except SluiceError as e:
        return _fail(e)
    for info in secrets:
        created, updated = f"{info.created_at:%Y-%m-%d %H:%M}", f"{info.updated_at:%Y-%m-%d %H:%M}"
        print(f"{info.name}\t{info.environment or '*'}\tcreated {created}\tupdated {updated}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    try:
        deleted = _store().delete(args.pipeline, args.name, environment=args.environment)
        if deleted:
            _audit("secret.delete", args)
    except SluiceError as e:
        return _fail(e)
    if not deleted:
        print(f"sluice secrets: no secret {args.name} for {args.pipeline}", file=sys.stderr)
        return 1
    print(f"deleted {args.name} of {args.pipeline}")
    return 0


def _audit(action: str, args: argparse.Namespace) -> None:
    """Append the audit event of ``action`` on a secret (its name, never its value), acked."""
    from orchestrator.domain.records import AuditEvent  # noqa: PLC0415 (as above)
    from orchestrator.wire import encode_record  # noqa: PLC0415
    from schemas.eventlog import TopicNames, append_acknowledged, producer  # noqa: PLC0415

    settings = ServiceSettings.from_env()
    detail = {"name": args.name, **({"environment": args.environment} if args.environment else {})}
    event = AuditEvent(
        audit_id=uuid.uuid4().hex,
        subject=f"secret/{args.pipeline}/{args.name}",
        action=action,
        actor=f"cli:{_user()}@{socket.gethostname()}",
        pipeline_id=args.pipeline,
        outcome="allowed",
        detail=detail,
        occurred_at_ms=time.time_ns() // 1_000_000,
    )
    topic = TopicNames(settings.topic_prefix).audit
    p = producer(settings)
    append_acknowledged(p, topic, event.subject, encode_record(event))
    p.flush(5)


def _user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", str(os.getuid()))


def _fail(error: SluiceError) -> int:
    print(f"sluice secrets: {error}", file=sys.stderr)
    return 1
