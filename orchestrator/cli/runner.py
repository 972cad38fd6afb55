"""``sluice runner``: take stage jobs from the job topics and run them in Docker."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runners.process import RunnerOptions

__all__ = ["options_of", "register", "run"]


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
    from runners.process import serve  # noqa: PLC0415 (the CLI loads only what it runs)

    return serve(options_of(args))


def options_of(args: argparse.Namespace) -> RunnerOptions:
    """The runner options ``sluice runner``'s arguments say."""
    from runners.process import RunnerOptions  # noqa: PLC0415 (the CLI loads only what it runs)

    return RunnerOptions(
        slots=args.slots,
        runner_id=args.runner_id,
        prefix=args.prefix,
        metrics_port=args.metrics_port,
        drain_on_sigterm=args.drain_on_sigterm,
        status_file=args.status_file,
        simulated=args.simulated,
    )
