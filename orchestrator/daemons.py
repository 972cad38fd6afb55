"""Sluice's own background processes (``make demo`` leaves the processors, a runner and the
API running), recorded under the state directory so that a second ``make demo`` reuses
them and ``make down`` (``infra/down``) stops them.

Each process has ``<state>/daemons/<name>.json`` holding its pid and command line; a record
counts only while that pid is alive *and* runs that command line (a pid reused by another
program after a reboot is not ours). ``python -m orchestrator.daemons stop`` stops them all.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Daemons", "main"]


@dataclass(frozen=True)
class Daemons:
    """The background processes recorded under ``state_dir``."""

    state_dir: Path

    @property
    def folder(self) -> Path:
        """Where the records are."""
        return self.state_dir / "daemons"

    def running(self, name: str) -> int | None:
        """The pid of ``name`` while it runs, else None (and a stale record is removed)."""
        record = self.folder / f"{name}.json"
        try:
            data = json.loads(record.read_text())
            pid, argv = int(data["pid"]), list(data["argv"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        deadline = time.monotonic() + 2
        while _cmdline(pid) == [] and time.monotonic() < deadline:
            time.sleep(0.02)  # a process a moment old may not show its command line yet
        if _runs(_cmdline(pid), argv):
            return pid
        record.unlink(missing_ok=True)
        return None

    def ensure(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> tuple[int, bool]:
        """``name``'s pid, starting ``argv`` in the background first unless it runs;
        whether it was started now. Output goes to ``<state>/logs/<name>.log``."""
        pid = self.running(name)
        if pid is not None:
            return pid, False
        self.folder.mkdir(parents=True, exist_ok=True)
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = str(logs / f"{name}.log")
        # posix_spawn, not Popen: the process is not ours to wait for, it outlives the demo
        pid = os.posix_spawnp(
            argv[0],
            list(argv),
            dict(os.environ if env is None else env),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,  # its own session: the terminal's Ctrl-C does not reach it
        )
        record = {"pid": pid, "argv": list(argv)}
        (self.folder / f"{name}.json").write_text(json.dumps(record))
        return pid, True

    def names(self) -> list[str]:
        """Every recorded name."""
        return sorted(p.stem for p in self.folder.glob("*.json"))

    def stop(self, name: str, timeout_s: float = 30.0) -> bool:
        """Stop ``name`` (SIGTERM, then SIGKILL after ``timeout_s``); False if not running."""
        pid = self.running(name)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _cmdline(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if _cmdline(pid) is not None:
            os.kill(pid, signal.SIGKILL)
        (self.folder / f"{name}.json").unlink(missing_ok=True)
        return True


def _runs(cmdline: list[str] | None, argv: list[str]) -> bool:
    """Whether ``cmdline`` is ``argv`` (also as ``interpreter argv...`` for a script with a
    ``#!`` line, which the kernel runs so)."""
    return cmdline is not None and argv != [] and argv in (cmdline, cmdline[1:])


def _cmdline(pid: int) -> list[str] | None:
    """The command line of a live (not zombie) ``pid`` ([] while it is being started),
    or None."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    if state == "Z":
        return None
    if not raw:
        return []
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def main(argv: Sequence[str] | None = None) -> int:
    """``stop``: stop every recorded process; ``status``: list them."""
    args = list(sys.argv[1:] if argv is None else argv)
    state = Path(os.environ.get("SLUICE_STATE_DIR", Path.home() / ".local/state/sluice"))
    daemons = Daemons(state)
    for name in daemons.names():
        if args[:1] == ["stop"]:
            print(f"{name}: {'stopped' if daemons.stop(name) else 'was not running'}")
        else:
            pid = daemons.running(name)
            print(f"{name}: {f'running (pid {pid})' if pid else 'not running'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
