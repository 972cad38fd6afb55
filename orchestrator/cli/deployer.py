"""``sluice deployer``: carry out deploy stages on Docker behind HAProxy."""

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
    """Add ``deployer`` to the ``sluice`` command line."""
    parser = subparsers.add_parser(
        "deployer",
        help="carry out deploy stages (containers behind HAProxy)",
        description=(
            "Consume sluice.jobs.deploy and carry out each deploy stage: start containers "
            "of the stage's image, shift HAProxy's traffic with runtime commands, roll back "
            "on failure, and report every step to sluice.inbox. One environment's deploys "
            "run one at a time, in order."
        ),
    )
    parser.add_argument("--deployer-id", help="this deployer's id (default: a fresh one)")
    parser.add_argument(
        "--prefix", help="topic name prefix (default: SLUICE_TOPIC_PREFIX, usually empty)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run until interrupted; 1 if a service cannot be used."""
    from runners.deployer.main import Deployer, new_deployer_id  # noqa: PLC0415 (CLI start-up: load only what runs)

    settings = ServiceSettings.from_env()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    deployer_id = args.deployer_id or new_deployer_id()
    print(f"sluice deployer {deployer_id}: topic {prefix}sluice.jobs.deploy")
    try:
        Deployer(settings, prefix=prefix, deployer_id=deployer_id).run(stop)
    except SluiceError as e:
        print(f"sluice deployer: {e}", file=sys.stderr)
        return 1
    return 0
