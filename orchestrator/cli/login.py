"""``sluice login [--url URL] [--token TOKEN]``: check a token against the API and keep it,
with the URL, in ``~/.config/sluice/config.toml`` (mode 0600) for every later command.

Without ``--token`` the token is read from standard input (prompted without echo on a
terminal), so it does not land in the shell's history.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from orchestrator.client import ApiError, Client, Connection, run_cli, save_config

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice login`` to the CLI."""
    parser = subparsers.add_parser("login", help="check an API token and store it for the CLI")
    parser.add_argument("--url", help="API URL (default SLUICE_API_URL or http://127.0.0.1:8080)")
    parser.add_argument("--token", help="the token (default: read from standard input)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Store the token once the API accepts it."""
    return run_cli("login", lambda: _login(args))


def _read_token() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("API token: ")
    return sys.stdin.readline()


def _login(args: argparse.Namespace) -> int:
    token = (args.token or _read_token()).strip()
    if not token:
        raise ApiError(0, "no token given; create one with `sluice tokens create`")
    url = Connection.resolve(args.url).url
    with Client(Connection(url, token)) as client:
        client.pipelines()  # 401 for an unknown or revoked token
    path = save_config(url, token)
    print(f"signed in to {url}; token stored in {path}")
    return 0
