"""``sluice runner``: take stage jobs from the job topics and run them in Docker."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
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
            "cleanly on SIGINT/SIGTERM (running attempts are stopped and reported); with "
            "--drain-on-sigterm, SIGTERM drains instead (no new jobs, running stages finish, "
            "then exit) and SIGINT or a second SIGTERM stops."
        ),
    )
    parser.add_argument(
        "--drain-on-sigterm",
        action="store_true",
        help="SIGTERM drains: take no new job, let running stages finish, exit (sluice pool)",
    )
    parser.add_argument(
        "--status-file",
        type=Path,
        help="write this runner's slots and liveness here for sluice pool (runners/status.py)",
    )
    parser.add_argument(
        "--simulated-executor-sleeps-instead-of-running",
        dest="simulated",
        action="store_true",
        help=(
            "SIMULATION for benchmarks only: a stage runs no container and only sleeps for its "
            "script's `sleep N` lines, then reports success. Never use for real pipelines."
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
    stop, drain = threading.Event(), threading.Event()
    _on_signals(stop, drain if args.drain_on_sigterm else None)
    runner_id = args.runner_id or new_runner_id()
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    simulated = " SIMULATED EXECUTOR (stages only sleep)," if args.simulated else ""
    print(
        f"sluice runner {runner_id}:{simulated} {args.slots} slot(s), topics {prefix}sluice.jobs.*",
        flush=True,
    )
    _serve_metrics(args.metrics_port)
    try:
        run_runner(
            settings,
            prefix=prefix,
            slots=args.slots,
            runner_id=runner_id,
            stop=stop,
            drain=drain,
            status_file=args.status_file,
            simulated=args.simulated,
        )
    except SluiceError as e:
        print(f"sluice runner: {e}", file=sys.stderr)
        return 1
    return 0


def _on_signals(stop: threading.Event, drain: threading.Event | None) -> None:
    """SIGINT stops; SIGTERM stops too, or drains first when ``drain`` is given."""
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def on_term(*_: Any) -> None:
        if drain is None or drain.is_set():
            stop.set()
        else:
            drain.set()

    signal.signal(signal.SIGTERM, on_term)


def _serve_metrics(port: int) -> None:
    from schemas.metrics import MetricsPortInUse, serve_metrics  # noqa: PLC0415 (CLI start-up: load only what runs)

    try:
        serve_metrics(port)
    except MetricsPortInUse as e:  # metrics never keep a runner from working
        print(f"sluice runner: {e}; running without /metrics", file=sys.stderr)
