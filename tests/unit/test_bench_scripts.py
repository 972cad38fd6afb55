"""Every benchmark script loads as ``python bench/<name>.py`` loads it (its folder first on
``sys.path``, so a script named like a standard module would shadow it), without running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
LOAD = (
    "import runpy, sys; sys.path.insert(0, sys.argv[2]);"
    " runpy.run_path(sys.argv[1], run_name='loaded')"
)


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_the_benchmark_script_loads(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(BENCH / script), str(BENCH)],
        capture_output=True, text=True, timeout=120, check=False, cwd="/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
