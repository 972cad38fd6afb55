"""``sluice tokens create|revoke``: API tokens, directly in PostgreSQL (so the first admin
token can be made before anyone can call the API). The token is printed once."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.client import print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice tokens`` to the CLI."""
    parser = subparsers.add_parser("tokens", help="create or revoke API tokens")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a token (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scope", action="append", required=True, help="read, trigger, admin or runner"
    )
    create.add_argument("--pipeline", action="append", default=[], help="limit to pipelines")
    create.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token_id")
    revoke.add_argument("--json", action="store_true")
    for p in (create, revoke):
        p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Create or revoke."""
    return run_cli("tokens", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    # the CLI loads only what the sub-command runs
    from orchestrator.api.settings import ApiSettings  # noqa: PLC0415
    from projections.migrate import migrate  # noqa: PLC0415
    from schemas.pg import connect  # noqa: PLC0415
    from schemas.settings import ServiceSettings  # noqa: PLC0415

    schema = ApiSettings.from_env().pg_schema
    with connect(ServiceSettings.from_env().pg_dsn, schema=schema, name="sluice-tokens") as conn:
        migrate(conn, schema=schema)  # bootstrap: the first token may precede any process
        return _act(conn, args)


def _act(conn: Any, args: argparse.Namespace) -> int:
    from orchestrator.api.tokens import create_token, revoke_token  # noqa: PLC0415 (CLI start-up: load only what runs)
    from orchestrator.client import ApiError  # noqa: PLC0415 (CLI start-up: load only what runs)

    if args.action == "revoke":
        if not revoke_token(conn, args.token_id):
            raise ApiError(404, f"no live token {args.token_id!r}")
        print(f"revoked {args.token_id}")
        return 0
    made = create_token(conn, name=args.name, scopes=args.scope, pipelines=args.pipeline)
    if args.json:
        print_json({"token_id": made.token_id, "token": made.secret, "scopes": made.scopes})
    else:
        print(f"token {made.token_id} ({', '.join(made.scopes)}); shown once, keep it safe:")
        print(made.secret)
    return 0
