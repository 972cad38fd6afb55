"""Background processes recorded under the state directory: started once, stopped by name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from orchestrator.daemons import Daemons

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_ensure_starts_a_process_once_and_stop_ends_it(tmp_path: Path) -> None:
    daemons = Daemons(tmp_path)
    pid, started = daemons.ensure("sleeper", SLEEPER)
    try:
        assert started
        assert daemons.ensure("sleeper", SLEEPER) == (pid, False)
        assert daemons.running("sleeper") == pid
    finally:
        assert daemons.stop("sleeper", timeout_s=10)
    assert daemons.running("sleeper") is None
    assert daemons.names() == []


def test_a_record_whose_pid_runs_something_else_is_not_ours(tmp_path: Path) -> None:
    daemons = Daemons(tmp_path)
    daemons.folder.mkdir(parents=True)
    (daemons.folder / "api.json").write_text(json.dumps({"pid": 1, "argv": ["sluice", "api"]}))
    assert daemons.running("api") is None
    assert not (daemons.folder / "api.json").exists()
    assert daemons.stop("api") is False


def test_a_script_run_through_its_interpreter_line_is_recognised(tmp_path: Path) -> None:
    script = tmp_path / "sleeper"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(120)\n")
    script.chmod(0o755)
    daemons = Daemons(tmp_path / "state")
    pid, _ = daemons.ensure("script", [str(script), "--flag"])
    try:
        assert daemons.ensure("script", [str(script), "--flag"]) == (pid, False)
    finally:
        assert daemons.stop("script", timeout_s=10)
