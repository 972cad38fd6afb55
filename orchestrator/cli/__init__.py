"""The ``sluice`` command line: one sub-command per module of this package.

Each module in :data:`COMMANDS` exposes ``register(subparsers)``, which adds its parser and
sets ``func`` (``args -> exit status``). The CLI is the composition root: it may load any
of Sluice's packages, and loads each lazily so ``sluice --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[str, ...] = (
    "orchestrator.cli.processor",
    "orchestrator.cli.events",
    "orchestrator.cli.replay",
    "orchestrator.cli.validate",
    "orchestrator.cli.import_pipeline",
    "orchestrator.cli.runner",
    "orchestrator.cli.pool",
    "orchestrator.cli.deployer",
    "orchestrator.cli.env",
    "orchestrator.cli.secrets",
    "orchestrator.cli.notifications",
    "orchestrator.cli.api",
    "orchestrator.cli.pipelines",
    "orchestrator.cli.trigger",
    "orchestrator.cli.status",
    "orchestrator.cli.logs",
    "orchestrator.cli.artifacts",
    "orchestrator.cli.cancel",
    "orchestrator.cli.retry",
    "orchestrator.cli.play",
    "orchestrator.cli.dlq",
    "orchestrator.cli.tokens",
    "orchestrator.cli.login",
    "orchestrator.cli.gc",
    "orchestrator.cli.images",
    "orchestrator.cli.audit",
    "orchestrator.cli.tests",
)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="sluice", description="Sluice: CI/CD on an event log (Apache Kafka)."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sluice``; the exit status of the sub-command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
