"""``sluice pool``: run the worker manager, check its config, explain its decisions."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

__all__ = ["register"]

_SIMULATION_HELP = (
    "SIMULATION for benchmarks only: the pool's runners run no container; each stage only "
    "sleeps for its script's `sleep N` lines, then reports success"
)


def register(subparsers: Any) -> None:
    """Add ``pool run|check|why`` to the ``sluice`` command line."""
    parser = subparsers.add_parser(
        "pool",
        help="the worker manager: scale runner processes on this host",
        description=(
            "Start and drain runner processes between min_runners and max_runners, on queue "
            "depth, busy slots and the schedule of the config's periods (docs/pool.md). Every "
            "decision is an event on sluice.fleet; `sluice pool why` explains them."
        ),
    )
    sub = parser.add_subparsers(dest="pool_command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run the pool until SIGINT/SIGTERM (then drain it)")
    run.add_argument("--config", type=Path, required=True, help="the pool's YAML file")
    _common(run)
    run.add_argument("--work-dir", type=Path, help="runners' status and log files")
    run.add_argument("--metrics-port", type=int, default=9407, help="default 9407; 0: none")
    run.add_argument(
        "--simulated-executor-sleeps-instead-of-running",
        dest="simulated",
        action="store_true",
        help=_SIMULATION_HELP,
    )
    run.set_defaults(func=_run)
    check = sub.add_parser("check", help="check a pool config file (every error, with lines)")
    check.add_argument("config", type=Path)
    check.set_defaults(func=_check)
    why = sub.add_parser("why", help="explain the pool's decisions (from sluice.fleet)")
    _common(why)
    why.add_argument("--last", type=int, default=10, help="decisions to explain (default 10)")
    why.set_defaults(func=_why)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="default", help="the pool's name (default 'default')")
    parser.add_argument("--prefix", help="topic name prefix (default: SLUICE_TOPIC_PREFIX)")


def _check(args: argparse.Namespace) -> int:
    from orchestrator.domain.pool_config import PoolConfigInvalid, parse_pool_config  # noqa: PLC0415 (CLI start-up: load only what runs)

    try:
        config = parse_pool_config(args.config.read_text(encoding="utf-8"))
    except OSError as e:
        print(f"sluice pool: cannot read {args.config}: {e}", file=sys.stderr)
        return 1
    except PoolConfigInvalid as e:
        print(e.report(str(args.config)), file=sys.stderr)
        return 1
    periods = ", ".join(p.name for p in config.periods)
    print(f"{args.config}: ok ({config.min_runners}-{config.max_runners} runners; {periods})")
    return 0


def _run(args: argparse.Namespace) -> int:
    from orchestrator.domain.pool_config import PoolConfigInvalid  # noqa: PLC0415 (CLI start-up: load only what runs)
    from runners.config import RunnerConfig  # noqa: PLC0415
    from runners.pool.manager import PoolOptions, WorkerPool, load_config  # noqa: PLC0415
    from schemas.metrics import MetricsPortInUse, serve_metrics  # noqa: PLC0415

    settings = ServiceSettings.from_env()
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    runner_config = RunnerConfig.from_env()
    try:
        config = load_config(args.config)
    except PoolConfigInvalid as e:
        print(e.report(str(args.config)), file=sys.stderr)
        return 1
    except OSError as e:
        print(f"sluice pool: cannot read {args.config}: {e}", file=sys.stderr)
        return 1
    options = PoolOptions(
        name=args.name,
        config_path=args.config,
        prefix=prefix,
        work_dir=args.work_dir or runner_config.state_dir / "pool" / args.name,
        simulated=args.simulated,
        pg_schema=runner_config.pg_schema,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve_metrics(args.metrics_port)
    except MetricsPortInUse as e:
        print(f"sluice pool: {e}; running without /metrics", file=sys.stderr)
    simulated = " SIMULATED EXECUTOR (stages only sleep)," if args.simulated else ""
    print(f"sluice pool {args.name}:{simulated} {config.min_runners}-{config.max_runners} "
          f"runners of {config.slots_per_runner} slot(s)", flush=True)  # fmt: skip
    try:
        WorkerPool(settings, options, config=config).run(stop)
    except SluiceError as e:
        print(f"sluice pool: {e}", file=sys.stderr)
        return 1
    return 0


def _why(args: argparse.Namespace) -> int:
    from orchestrator.domain.fleet import PoolScaleDecided  # noqa: PLC0415 (CLI start-up: load only what runs)
    from runners.pool.fleetlog import read_fleet  # noqa: PLC0415
    from schemas.eventlog import TopicNames  # noqa: PLC0415

    settings = ServiceSettings.from_env()
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    try:
        events = list(read_fleet(settings, topic=TopicNames(prefix).fleet, pool=args.name))
    except SluiceError as e:
        print(f"sluice pool: {e}", file=sys.stderr)
        return 1
    decisions = [e for e in events if isinstance(e, PoolScaleDecided)][-args.last :]
    if not decisions:
        print(f"pool {args.name!r}: no decision on record")
    for decision in decisions:
        print(_explain(decision, events))
    return 0


def _explain(decision: Any, events: list[Any]) -> str:
    when = datetime.fromtimestamp(decision.occurred_at_ms / 1000, tz=UTC)
    lines = [
        f"{when:%Y-%m-%d %H:%M:%S.%f}"[:-3]
        + f" UTC  {decision.direction} {decision.from_runners} -> {decision.to_runners}"
        + f"  [{decision.decision_id}]",
        f"  why: {decision.reason}",
        "  saw: " + ", ".join(f"{k}={v}" for k, v in sorted(decision.inputs.items())),
    ]
    for rid in decision.killed:
        lines.append(f"  killed {rid} (unresponsive)")
    for e in events:
        if getattr(e, "decision_id", None) != decision.decision_id or e is decision:
            continue
        lines.append(f"  {type(e).__name__} {e.runner_id}" + _outcome(e, events))
    return "\n".join(lines)


def _outcome(event: Any, events: list[Any]) -> str:
    """How the runner started or drained by a decision ended, if it did."""
    from orchestrator.domain.fleet import RunnerStarted, RunnerStopped  # noqa: PLC0415 (loaded with _why)

    warm = (
        f" ({'warm' if event.images_warm else 'cold'} start)"
        if isinstance(event, RunnerStarted)
        else ""
    )
    for e in events:
        if isinstance(e, RunnerStopped) and e.runner_id == event.runner_id:
            return f"{warm}; stopped, interrupted={e.interrupted}: {e.reason}"
    return warm
