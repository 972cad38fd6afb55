"""The environment a ``sluice runner`` process is started with by tests and benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet

__all__ = ["runner_env"]


def runner_env(state: Path, **more: str) -> dict[str, str]:
    """This process's environment with a runner's own: its state directory (a runner started
    with the same one reaps what a dead one left), a fresh secrets key, no warm images (the
    pool's warming would compete with what is measured), and ``more`` on top."""
    return {
        **os.environ,
        "SLUICE_STATE_DIR": str(state),
        "SLUICE_SECRETS_KEY": Fernet.generate_key().decode(),
        "SLUICE_WARM_IMAGES": "-1",
        **more,
    }
