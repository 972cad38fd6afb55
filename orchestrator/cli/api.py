"""``sluice api [--host H] [--port P]``: serve the HTTP API and the pages with uvicorn."""

from __future__ import annotations

import argparse
import logging
from typing import Any

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``sluice api`` to the CLI."""
    parser = subparsers.add_parser("api", help="serve the HTTP API (OpenAPI at /openapi.json)")
    parser.add_argument("--host", help="address to listen on (default SLUICE_API_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default SLUICE_API_PORT, 8080)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or Ctrl-C."""
    import uvicorn  # noqa: PLC0415 (the CLI loads only what it runs)

    from orchestrator.api import ApiSettings  # noqa: PLC0415
    from orchestrator.ui import create_web_app  # noqa: PLC0415
    from schemas.settings import ServiceSettings  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    api = ApiSettings.from_env()
    api = api.with_address(args.host or api.host, args.port or api.port)
    app = create_web_app(ServiceSettings.from_env(), api)
    uvicorn.run(app, host=api.host, port=api.port, log_level="warning")
    return 0
