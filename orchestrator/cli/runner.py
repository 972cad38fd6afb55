"""``sluice runner``: take stage jobs from the job topics and run them in Docker."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``runner`` to the ``sluice`` command line."""
    parser = subparsers.add_parser(
        "runner",
        help="run queued stages in Docker containers",
        description=(
            "Consume the job topics (critical before high before normal before low) and run "
            "each stage attempt in a fresh container, reporting to sluice.inbox. Stops "
            "cleanly on SIGINT/SIGTERM (running attempts are stopped and reported)."
        ),
    )
    parser.add_argument("--slots", type=int, default=1, help="stages run at once (default 1)")
    parser.add_argument("--runner-id", help="this runner's id (default: a fresh one)")
    parser.add_argument(
        "--prefix", help="topic name prefix (default: SLUICE_TOPIC_PREFIX, usually empty)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=9404,
        help="serve Prometheus /metrics on this port (default 9404; 0: none)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run until interrupted; 1 if a service cannot be used."""
    from runners.main import new_runner_id  # noqa: PLC0415 (the CLI loads only what it runs)
    from runners.main import run as run_runner  # noqa: PLC0415

    settings = ServiceSettings.from_env()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner_id = args.runner_id or new_runner_id()
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    print(f"sluice runner {runner_id}: {args.slots} slot(s), topics {prefix}sluice.jobs.*")
    _serve_metrics(args.metrics_port)
    try:
        run_runner(settings, prefix=prefix, slots=args.slots, runner_id=runner_id, stop=stop)
    except SluiceError as e:
        print(f"sluice runner: {e}", file=sys.stderr)
        return 1
    return 0


def _serve_metrics(port: int) -> None:
    from schemas.metrics import MetricsPortInUse, serve_metrics  # noqa: PLC0415 (CLI start-up: load only what runs)

    try:
        serve_metrics(port)
    except MetricsPortInUse as e:  # metrics never keep a runner from working
        print(f"sluice runner: {e}; running without /metrics", file=sys.stderr)
