"""``sluice env list|show|history|rollback|promote|abort|protect|unprotect``: environments,
what they run, their deployments, going back to an earlier image (or aborting the canary or
blue-green deployment under way), letting a paused canary go on, and protecting an
environment (playing, promoting or rolling back its deploys then needs a token with the
scope ``deploy:<environment>``)."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.client import add_connection_args, client_from_args, print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice env`` to the CLI."""
    parser = subparsers.add_parser("env", help="environments and their deployments")
    actions = parser.add_subparsers(dest="action", required=True)
    add_connection_args(actions.add_parser("list", help="every environment"))
    show = actions.add_parser("show", help="what an environment runs, and its URL")
    show.add_argument("environment")
    add_connection_args(show)
    history = actions.add_parser("history", help="an environment's deployments, newest first")
    history.add_argument("environment")
    history.add_argument("--limit", type=int, default=20)
    add_connection_args(history)
    back = actions.add_parser("rollback", help="redeploy an earlier image (no rebuild)")
    back.add_argument("environment")
    back.add_argument("--to", help="the deployment id to go back to (default: the previous)")
    add_connection_args(back)
    for action, text in (
        ("promote", "let a paused canary go on to its next step"),
        ("abort", "stop a canary or blue-green deployment under way; traffic goes back"),
    ):
        decide = actions.add_parser(action, help=text)
        decide.add_argument("environment")
        decide.add_argument("deployment_id", help="as `sluice env history --json` shows it")
        add_connection_args(decide)
    for action, text in (
        ("protect", "only tokens with deploy:<environment> (or admin) may play or roll back"),
        ("unprotect", "lift an environment's protection"),
    ):
        guard = actions.add_parser(action, help=text)
        guard.add_argument("environment")
        add_connection_args(guard)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the chosen action."""
    return run_cli("env", lambda: _ACTIONS[args.action](args))


def _list(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        found = client.environments()
    if args.json:
        print_json(found)
        return 0
    for e in found:
        print(f"{e['name']:<24} {e['current_image'] or '-':<48} {e['url'] or ''}")
    return 0


def _show(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        e = client.environment(args.environment)
    if args.json:
        print_json(e)
        return 0
    guarded = "  (protected: deploy:" + e["name"] + ")" if e.get("protected") else ""
    print(f"environment {e['name']}  {e['url'] or '(no frontend yet)'}{guarded}")
    print(f"  runs     {e['current_image'] or '-'}  (deployment {e['current_deployment_id']})")
    print(f"  last     deployment {e['last_deployment_id']} at {e['updated_at']}")
    return 0


def _history(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        found = client.deployments(args.environment, limit=args.limit)
    if args.json:
        print_json(found)
        return 0
    for d in found:
        why = f"  {d['reason'] or d.get('paused_reason') or ''}".rstrip()
        print(
            f"{d['started_at']}  {d['outcome']:<12} {d['strategy']:<10} {d['image']}"
            f"  {d['deployment_id']}{why}"
        )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        started = client.rollback(args.environment, to=args.to)
    if args.json:
        print_json(started)
        return 0
    if started.get("aborted"):
        print(f"aborting deployment {started['aborted']}: traffic goes back to what ran before")
        return 0
    print(f"rolling {args.environment} back to {started['image']}: run {started['run_id']}")
    return 0


def _decide(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        answer = client.decide(args.environment, args.deployment_id, args.action)
    if args.json:
        print_json(answer)
        return 0
    print(f"{args.environment}: {args.action} of deployment {args.deployment_id} requested")
    return 0


def _protect(args: argparse.Namespace) -> int:
    protected = args.action == "protect"
    with client_from_args(args) as client:
        answer = client.protect(args.environment, protected=protected)
    if args.json:
        print_json(answer)
        return 0
    now = "protected" if protected else "not protected"
    print(f"{args.environment}: {now}{'' if answer['changed'] else ' (already)'}")
    return 0


_ACTIONS = {
    "list": _list,
    "show": _show,
    "history": _history,
    "rollback": _rollback,
    "promote": _decide,
    "abort": _decide,
    "protect": _protect,
    "unprotect": _protect,
}
