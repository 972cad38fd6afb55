"""``sluice pipelines register|list``: pipelines through the API."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.client import add_connection_args, client_from_args, print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice pipelines`` to the CLI."""
    parser = subparsers.add_parser("pipelines", help="register and list pipelines")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("register", help="register a pipeline")
    add.add_argument("pipeline_id")
    add.add_argument("--repo", required=True, help="git URL of the repository")
    add.add_argument("--name", help="display name (default: the id)")
    add.add_argument("--config-path", default="pipeline.yaml")
    add.add_argument("--default-branch", default="main")
    add.add_argument("--priority", choices=("critical", "high", "normal", "low"))
    add.add_argument("--webhook-secret", help="secret of GitHub/GitLab push webhooks")
    listing = actions.add_parser("list", help="list pipelines")
    for p in (add, listing):
        add_connection_args(p)
        p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Register or list pipelines."""
    return run_cli(
        "pipelines", lambda: _register(args) if args.action == "register" else _list(args)
    )


def _register(args: argparse.Namespace) -> int:
    body = {
        "pipeline_id": args.pipeline_id,
        "name": args.name or args.pipeline_id,
        "repo_url": args.repo,
        "config_path": args.config_path,
        "default_branch": args.default_branch,
        "priority": args.priority,
        "webhook_secret": args.webhook_secret,
    }
    with client_from_args(args) as client:
        made = client.register_pipeline(**body)
    if args.json:
        print_json(made)
    else:
        print(f"registered {made['pipeline_id']} ({made['repo_url']})")
    return 0


def _list(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        found = client.pipelines()
    if args.json:
        print_json(found)
        return 0
    for p in found:
        print(f"{p['pipeline_id']:<24} {p['default_branch']:<12} {p['repo_url']}")
    return 0
