"""``sluice processor NAME`` runs one stream processor; ``sluice processors`` runs them all.

The processors: ``triggers`` (de-duplicates triggers, resolves the pipeline file, creates
runs), ``decider`` (the only writer of ``sluice.runs``: decisions and job dispatch),
``timers`` (leases, retry back-off, the fallback scan), ``projection`` (every PostgreSQL
read model of ``projections.registry``), ``notifier`` (webhook, Slack and e-mail
notifications), ``lag`` (queue depth and consumer lag gauges) and ``deployer`` (deploy
stages on Docker behind HAProxy, as ``sluice deployer``). Each serves Prometheus
``/metrics`` on its own port and stops cleanly on SIGTERM or Ctrl-C. Run several
``decider`` processes (distinct ``--worker-id``) to share the partitions. ``sluice
processors --without-deployer`` leaves deploys to ``sluice deployer`` processes run beside
(on another host, or several of them: one environment is still deployed by one at a time).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

__all__ = ["METRICS_PORTS", "PROCESSORS", "register"]

Starter = Callable[[ServiceSettings, str, str, threading.Event], None]


def _decider(settings: ServiceSettings, prefix: str, worker: str, stop: threading.Event) -> None:
    from projections.decider import Decider  # noqa: PLC0415 (the CLI loads only what it runs)

    # a transaction stuck in librdkafka (#5456) exits the process for its supervisor to restart
    Decider(settings=settings, prefix=prefix, worker_id=worker, exit_when_stuck_s=60).run(stop)


def _timers(settings: ServiceSettings, prefix: str, worker: str, stop: threading.Event) -> None:
    from projections.timers import (  # noqa: PLC0415 (CLI start-up: load only what runs)
        TimerSettings,
        TimerWorker,
    )

    own = TimerSettings.from_env()
    TimerWorker(settings=settings, prefix=prefix, member_id=worker, own=own).run(stop)


def _schema() -> str:
    """The PostgreSQL schema of the read models (``SLUICE_PG_SCHEMA``, as the API reads it)."""
    from orchestrator.api.settings import ApiSettings  # noqa: PLC0415 (CLI start-up: load only what runs)

    return ApiSettings.from_env().pg_schema


def _projection(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from projections.registry import run_all  # noqa: PLC0415 (the CLI loads only what it runs)

    run_all(settings, prefix=prefix, schema=_schema(), stop=stop)


def _triggers(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from projections.triggers import run  # noqa: PLC0415 (CLI start-up: load only what runs)

    run(settings, prefix=prefix, stop=stop)


def _notifier(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from projections.notifier import Notifier, NotifierSettings  # noqa: PLC0415 (CLI start-up: load only what runs)

    config = NotifierSettings.from_env(os.environ)
    Notifier(settings, prefix=prefix, schema=_schema(), config=config).run(stop)


def _lag(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from projections.lag import LagExporter  # noqa: PLC0415 (CLI start-up: load only what runs)

    LagExporter(settings, prefix=prefix).run(stop)


def _deployer(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from runners.deployer.main import Deployer, new_deployer_id  # noqa: PLC0415 (CLI start-up: load only what runs)

    Deployer(settings, prefix=prefix, deployer_id=new_deployer_id()).run(stop)


PROCESSORS: dict[str, Starter] = {
    "decider": _decider,
    "timers": _timers,
    "projection": _projection,
    "triggers": _triggers,
    "notifier": _notifier,
    "lag": _lag,
    "deployer": _deployer,
}
# where each serves /metrics by default (infra/prometheus/targets.json scrapes these)
METRICS_PORTS = {
    "decider": 9400,
    "timers": 9401,
    "projection": 9402,
    "triggers": 9403,
    "notifier": 9405,
    "lag": 9406,
    "deployer": 9407,
}


_PORT_HELP = "serve /metrics on this port (default: the processor's own, 9400-9407; 0: none)"


def _serve_metrics(port: int) -> None:
    from schemas.metrics import MetricsPortInUse, serve_metrics  # noqa: PLC0415 (CLI start-up: load only what runs)

    try:
        serve_metrics(port)
    except MetricsPortInUse as e:  # metrics never keep a processor from working
        logging.getLogger("sluice.metrics").warning("%s; running without /metrics", e)


def register(subparsers: Any) -> None:
    """Add ``sluice processor`` and ``sluice processors`` to the CLI."""
    one = subparsers.add_parser("processor", help="run one stream processor")
    one.add_argument("name", choices=sorted(PROCESSORS))
    one.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
    one.add_argument("--prefix", help="topic name prefix (default: SLUICE_TOPIC_PREFIX)")
    one.add_argument("--metrics-port", type=int, help=_PORT_HELP)
    one.set_defaults(func=run_one)
    every = subparsers.add_parser("processors", help="run every stream processor in one process")
    every.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
    every.add_argument("--prefix", help="topic name prefix (default: SLUICE_TOPIC_PREFIX)")
    every.add_argument("--metrics-port", type=int, help=_PORT_HELP)
    every.add_argument(
        "--without-deployer",
        action="store_true",
        help="do not carry out deploy stages here (run `sluice deployer` beside instead)",
    )
    every.set_defaults(func=run_all)


def _setup(args: argparse.Namespace) -> tuple[ServiceSettings, str, threading.Event]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = ServiceSettings.from_env()
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return settings, prefix, stop


def run_one(args: argparse.Namespace) -> int:
    """Run the processor ``args.name`` until a signal."""
    settings, prefix, stop = _setup(args)
    _serve_metrics(METRICS_PORTS[args.name] if args.metrics_port is None else args.metrics_port)
    try:
        PROCESSORS[args.name](settings, prefix, args.worker_id, stop)
    except SluiceError as e:
        print(f"sluice processor {args.name}: {e}", file=sys.stderr)
        return 1
    return 0


def run_all(args: argparse.Namespace) -> int:
    """Run every processor: faust (triggers) on the main thread, the others beside it.

    One that stops on an error stops them all and the process exits 1, so whatever restarts
    the process (systemd, Kubernetes, ``make demo`` again) brings every processor back;
    a process that went on without its decider would look alive and decide nothing.
    """
    settings, prefix, stop = _setup(args)
    _serve_metrics(METRICS_PORTS["decider"] if args.metrics_port is None else args.metrics_port)
    failed: list[str] = []

    def serve(name: str) -> None:
        try:
            PROCESSORS[name](settings, prefix, args.worker_id, stop)
        except BaseException:
            logging.getLogger("sluice.processors").exception("%s stopped on an error", name)
            failed.append(name)
            stop.set()

    names = ["decider", "timers", "projection", "notifier", "lag"]
    if not args.without_deployer:
        names.append("deployer")
    threads = [threading.Thread(target=serve, args=(name,), name=name) for name in names]
    for t in threads:
        t.start()
    try:
        _triggers(settings, prefix, args.worker_id, stop)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    if failed:
        print(f"sluice processors: {', '.join(failed)} stopped on an error", file=sys.stderr)
        return 1
    return 0
