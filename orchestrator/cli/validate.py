"""``sluice validate FILE``: check a pipeline file like a compiler and show its DAG."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from orchestrator.domain import PipelineInvalid, PipelineSpec, parse_pipeline

__all__ = ["register", "render_dag", "run"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def register(subparsers: Any) -> None:
    """Add ``validate`` to the ``sluice`` command line."""
    parser = subparsers.add_parser(
        "validate",
        help="check a pipeline file and print its stages by level",
        description=(
            "Check a pipeline file. Valid: print the stages level by level (stages on one "
            "line can run in parallel) and exit 0. Invalid: print every error as "
            "FILE:LINE: message and exit 1. Unreadable: exit 2."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="the pipeline file, e.g. pipeline.yaml")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate ``args.file``; returns the exit code."""
    return validate(args.file, out=sys.stdout, err=sys.stderr)


def validate(path: str, *, out: TextIO, err: TextIO) -> int:
    """Validate the pipeline at ``path``, writing the DAG to ``out`` or errors to ``err``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        print(f"sluice validate: {path}: no such file", file=err)
        return EXIT_UNREADABLE
    except (OSError, UnicodeDecodeError) as e:
        print(f"sluice validate: {path}: cannot read it ({e.__class__.__name__}: {e})", file=err)
        return EXIT_UNREADABLE
    try:
        pipeline = parse_pipeline(text)
    except PipelineInvalid as invalid:
        for error in invalid.errors:
            print(error.located(path), file=err)
        count = len(invalid.errors)
        print(f"{path}: {count} error{'s' if count != 1 else ''}", file=err)
        return EXIT_INVALID
    out.write(render_dag(pipeline))
    return EXIT_OK


def render_dag(pipeline: PipelineSpec) -> str:
    """The stages level by level, then a one-line summary."""
    lines = [f"{i}: {', '.join(level)}" for i, level in enumerate(pipeline.dag.levels, start=1)]
    stages = len(pipeline.stages)
    levels = len(pipeline.dag.levels)
    widest = max((len(level) for level in pipeline.dag.levels), default=0)
    lines.append(
        f"ok: pipeline {pipeline.name!r}, {stages} stage{'s' if stages != 1 else ''} "
        f"in {levels} level{'s' if levels != 1 else ''}, up to {widest} in parallel"
    )
    return "\n".join(lines) + "\n"
