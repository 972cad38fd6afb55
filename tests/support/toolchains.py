"""Catalogue images a test needs, built (once, cached in the registry) before it runs."""

from __future__ import annotations

from runners.toolchains import ToolchainBuilder, find, load_catalogue
from schemas.settings import ServiceSettings

__all__ = ["ensure_images"]


def ensure_images(settings: ServiceSettings, *names: str) -> None:
    """Build and push ``names`` unless the registry has them as the catalogue says."""
    catalogue = load_catalogue()
    builder = ToolchainBuilder(docker_host=settings.docker_host, registry=settings.registry)
    try:
        for name in names:
            builder.ensure(find(catalogue, name), lambda _line: None)
    finally:
        builder.close()
