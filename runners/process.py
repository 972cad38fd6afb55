"""A runner as a process: its signals, its banner and its /metrics, then its loop.

``sluice runner`` calls :func:`serve` after reading its command line; ``sluice pool`` calls
it in each runner it forks (runners/pool/processes.py).
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

__all__ = ["RunnerOptions", "serve"]


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    """What ``sluice runner``'s command line says (None: the default)."""

    slots: int = 1
    runner_id: str | None = None
    prefix: str | None = None
    metrics_port: int = 9404
    drain_on_sigterm: bool = False
    status_file: Path | None = None
    simulated: bool = False


def serve(options: RunnerOptions, drain: threading.Event | None = None) -> int:
    """Run until interrupted, or until drained once ``drain`` is set (also by SIGTERM with
    ``drain_on_sigterm``); 1 if a service cannot be used."""
    from runners.main import new_runner_id  # noqa: PLC0415 (sluice's start-up loads only what it runs)
    from runners.main import run as run_runner  # noqa: PLC0415

    settings = ServiceSettings.from_env()
    stop, drain = threading.Event(), drain or threading.Event()
    _on_signals(stop, drain if options.drain_on_sigterm else None)
    runner_id = options.runner_id or new_runner_id()
    prefix = settings.topic_prefix if options.prefix is None else options.prefix
    simulated = " SIMULATED EXECUTOR (stages only sleep)," if options.simulated else ""
    print(
        f"sluice runner {runner_id}:{simulated} {options.slots} slot(s),"
        f" topics {prefix}sluice.jobs.*",
        flush=True,
    )
    _serve_metrics(options.metrics_port)
    try:
        run_runner(
            settings,
            prefix=prefix,
            slots=options.slots,
            runner_id=runner_id,
            stop=stop,
            drain=drain,
            status_file=options.status_file,
            simulated=options.simulated,
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
    from schemas.metrics import MetricsPortInUse, serve_metrics  # noqa: PLC0415 (start-up: load only what runs)

    try:
        serve_metrics(port)
    except MetricsPortInUse as e:  # metrics never keep a runner from working
        print(f"sluice runner: {e}; running without /metrics", file=sys.stderr)
