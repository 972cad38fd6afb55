"""``sluice tests flaky PIPELINE [--window N] [--low L] [--high H]``: the pipeline's flaky
tests (``GET /pipelines/{id}/tests/flaky``): failure rate, failed/total runs, and the commits
on which a test both failed and passed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from orchestrator.client import add_connection_args, client_from_args, print_json, run_cli

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice tests flaky`` to the CLI."""
    parser = subparsers.add_parser("tests", help="what the pipeline's test history says")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    flaky = actions.add_parser("flaky", help="tests that fail now and then")
    flaky.add_argument("pipeline")
    flaky.add_argument("--window", type=int, help="how many recent runs count (default 50)")
    flaky.add_argument("--low", type=float, help="lowest flaky failure rate (default 0.05)")
    flaky.add_argument("--high", type=float, help="highest flaky failure rate (default 0.95)")
    add_connection_args(flaky)
    flaky.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print the flaky tests."""
    return run_cli("tests", lambda: _flaky(args))


def _flaky(args: argparse.Namespace) -> int:
    rule = {k: getattr(args, k) for k in ("window", "low", "high")}
    with client_from_args(args) as client:
        tests = client.flaky_tests(args.pipeline, **rule)
    if args.json:
        print_json(tests)
        return 0
    for t in tests:
        flips = (
            f"\tflipped on {', '.join(c[:12] for c in t['flipped_on'])}" if t["flipped_on"] else ""
        )
        rate = f"{t['failure_rate']:.0%} ({t['failed_runs']}/{t['runs']} runs)"
        sys.stdout.write(f"{t['test_name']}\t{rate}{flips}\n")
    if not tests:
        print("no flaky tests", file=sys.stderr)
    return 0
