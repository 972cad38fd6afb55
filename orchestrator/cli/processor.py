"""``sluice processor NAME`` runs one stream processor; ``sluice processors`` runs them all.

The processors: ``triggers`` (de-duplicates triggers, resolves the pipeline file, creates
runs), ``decider`` (the only writer of ``sluice.runs``: decisions and job dispatch),
``timers`` (leases, retry back-off, the fallback scan), ``projection`` (every PostgreSQL
read model of ``projections.registry``), ``notifier`` (webhook, Slack and e-mail
notifications) and ``lag`` (queue depth and consumer lag gauges). Each serves Prometheus
``/metrics`` on its own port and stops cleanly on SIGTERM or Ctrl-C. Run several
``decider`` processes (distinct ``--worker-id``) to share the partitions.
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

    Decider(settings=settings, prefix=prefix, worker_id=worker).run(stop)


def _timers(settings: ServiceSettings, prefix: str, worker: str, stop: threading.Event) -> None:
    from projections.timers import TimerWorker  # noqa: PLC0415 (CLI start-up: load only what runs)

    TimerWorker(settings=settings, prefix=prefix, member_id=worker).run(stop)


def _projection(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from projections.registry import run_all  # noqa: PLC0415 (the CLI loads only what it runs)

    run_all(settings, prefix=prefix, stop=stop)


def _triggers(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from projections.triggers import run  # noqa: PLC0415 (CLI start-up: load only what runs)

    run(settings, prefix=prefix, stop=stop)


def _notifier(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from projections.notifier import Notifier, NotifierSettings  # noqa: PLC0415 (CLI start-up: load only what runs)

    config = NotifierSettings.from_env(os.environ)
    Notifier(settings, prefix=prefix, config=config).run(stop)


def _lag(settings: ServiceSettings, prefix: str, _: str, stop: threading.Event) -> None:
    from projections.lag import LagExporter  # noqa: PLC0415 (CLI start-up: load only what runs)

    LagExporter(settings, prefix=prefix).run(stop)


PROCESSORS: dict[str, Starter] = {
    "decider": _decider,
    "timers": _timers,
    "projection": _projection,
    "triggers": _triggers,
    "notifier": _notifier,
    "lag": _lag,
}
# where each serves /metrics by default (infra/prometheus/targets.json scrapes these)
METRICS_PORTS = {
    "decider": 9400,
    "timers": 9401,
    "projection": 9402,
    "triggers": 9403,
    "notifier": 9405,
    "lag": 9406,
}


_PORT_HELP = "serve /metrics on this port (default: the processor's own, 9400-9406; 0: none)"


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
    """Run every processor: faust (triggers) on the main thread, the others beside it."""
    settings, prefix, stop = _setup(args)
    _serve_metrics(METRICS_PORTS["decider"] if args.metrics_port is None else args.metrics_port)
    threads = [
        threading.Thread(
            target=PROCESSORS[name], args=(settings, prefix, args.worker_id, stop), name=name
        )
        for name in ("decider", "timers", "projection", "notifier", "lag")
    ]
    for t in threads:
        t.start()
    try:
        _triggers(settings, prefix, args.worker_id, stop)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    return 0
