"""The real-world material of ``shared/external/`` (webhook bodies, pipeline files).

It lies beside the repository (``../shared`` from the work tree, and beside CI's clone);
``SLUICE_SHARED_DIR`` overrides where. A test that needs it and cannot find it fails: the
material is part of the project's test data, never optional.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["external", "webhook"]

_ROOT = Path(__file__).resolve().parents[2]


def external() -> Path:
    """The ``shared/external`` folder."""
    base = Path(os.environ.get("SLUICE_SHARED_DIR", str(_ROOT.parent / "shared")))
    found = base / "external"
    if not found.is_dir():
        raise FileNotFoundError(f"{found} is missing: set SLUICE_SHARED_DIR to the shared/ folder")
    return found


def webhook(provider: str, name: str) -> bytes:
    """The exact bytes of a real webhook body: ``webhook("github", "push-branch.go-scm")``."""
    return (external() / "webhooks" / provider / f"{name}.json").read_bytes()
