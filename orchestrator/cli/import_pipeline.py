"""``sluice import FILE [-o pipeline.yaml]``: a GitLab CI file or GitHub Actions workflow as a
Sluice pipeline file, with a line-numbered report of what did not carry over."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from orchestrator.domain.imports import ImportRefused, import_pipeline, render

__all__ = ["register", "run"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREADABLE = 2


def register(subparsers: Any) -> None:
    """Add ``import`` to the ``sluice`` command line."""
    parser = subparsers.add_parser(
        "import",
        help="convert a .gitlab-ci.yml or a GitHub Actions workflow to pipeline.yaml",
        description=(
            "Print the equivalent Sluice pipeline.yaml (or write it with -o), and on stderr "
            "every part of the file that was not carried over (dropped) or carried over "
            "differently (changed), as FILE:LINE: kind: message. Exit 0 when converted, 1 "
            "when the file cannot be imported (with its line), 2 when it cannot be read."
        ),
    )
    parser.add_argument(
        "file", metavar="FILE", help="e.g. .gitlab-ci.yml or .github/workflows/ci.yml"
    )
    parser.add_argument("-o", "--output", metavar="OUT", help="write pipeline.yaml here")
    parser.add_argument("--name", help="the pipeline's name (default: the file's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import ``args.file``; returns the exit code."""
    return convert(args.file, args.output, args.name, out=sys.stdout, err=sys.stderr)


def convert(path: str, output: str | None, name: str | None, *, out: TextIO, err: TextIO) -> int:
    """Convert the file at ``path``, writing the pipeline and the report."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print(f"sluice import: {path}: cannot read it ({e.__class__.__name__}: {e})", file=err)
        return EXIT_UNREADABLE
    try:
        imported = import_pipeline(text, name=name or Path(path).name.split(".")[0] or "imported")
    except ImportRefused as e:
        print(f"sluice import: {e.located(path)}", file=err)
        return EXIT_REFUSED
    if output:
        Path(output).write_text(imported.pipeline_yaml, encoding="utf-8")
    else:
        out.write(imported.pipeline_yaml)
    if imported.findings:
        print(render(path, imported.findings), file=err)
    dropped = len(imported.dropped)
    print(f"{path}: imported from {imported.source}; {dropped} dropped, "
          f"{len(imported.findings) - dropped} changed", file=err)  # fmt: skip
    return EXIT_OK
