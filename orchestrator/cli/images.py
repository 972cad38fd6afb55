"""``sluice images list|build``: the toolchain images of ``infra/images.txt``.

``list`` shows each catalogue image and whether the local registry holds it as its line
says (``up to date``), an older build (``stale``) or nothing (``missing``), then any other
image the registry holds. ``build NAME...`` (or ``--all``) builds and pushes what is not up
to date, printing the build's progress; ``--force`` rebuilds anyway.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runners.registry import Registry
from runners.toolchains import (
    CATALOGUE_LABEL,
    Toolchain,
    ToolchainBuilder,
    catalogue_path,
    find,
    load_catalogue,
)
from schemas.errors import SluiceError
from schemas.settings import ServiceSettings

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``images`` to the ``sluice`` command line."""
    parser = subparsers.add_parser(
        "images", help="list or build the toolchain images (python:3.11, gcc:12, ...)"
    )
    sub = parser.add_subparsers(dest="images_command", metavar="list|build", required=True)
    show = sub.add_parser("list", help="catalogue images and whether the registry has them")
    show.set_defaults(func=_list)
    build = sub.add_parser("build", help="build and push catalogue images (cached)")
    build.add_argument("names", nargs="*", metavar="NAME", help="e.g. python:3.11")
    build.add_argument("--all", action="store_true", help="every image of the catalogue")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.set_defaults(func=_build)


def _list(args: argparse.Namespace) -> int:
    settings = ServiceSettings.from_env()
    registry = Registry(settings.registry)
    catalogue = load_catalogue()
    try:
        held = registry.images()
        print(f"{'IMAGE':<16} {'STATE':<11} PACKAGES  (catalogue: {catalogue_path()})")
        for toolchain in catalogue:
            print(f"{toolchain.ref:<16} {_state(registry, toolchain):<11} "
                  f"{' '.join(toolchain.packages)}")  # fmt: skip
    except SluiceError as e:
        print(f"sluice images: {e}", file=sys.stderr)
        return 1
    others = [ref for ref in held if ref not in {t.ref for t in catalogue}]
    if others:
        print(f"other images in {settings.registry}: {', '.join(others)}")
    return 0


def _state(registry: Registry, toolchain: Toolchain) -> str:
    labels = registry.labels(toolchain.name, toolchain.tag)
    if labels is None:
        return "missing"
    return "up to date" if labels.get(CATALOGUE_LABEL) == toolchain.fingerprint else "stale"


def _build(args: argparse.Namespace) -> int:
    catalogue = load_catalogue()
    if not args.names and not args.all:
        print("sluice images build: name images (e.g. python:3.11) or give --all", file=sys.stderr)
        return 2
    settings = ServiceSettings.from_env()
    builder = ToolchainBuilder(docker_host=settings.docker_host, registry=settings.registry)
    try:
        wanted = list(catalogue) if args.all else [find(catalogue, n) for n in args.names]
        for toolchain in wanted:
            builder.ensure(toolchain, lambda line: print(line, flush=True), force=args.force)
    except SluiceError as e:
        print(f"sluice images build: {e}", file=sys.stderr)
        return 1
    finally:
        builder.close()
    return 0
