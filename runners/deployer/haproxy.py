"""HAProxy as the deployer drives it: one frontend port and one backend per environment.

An environment's frontend and backend are one file under ``<haproxy_dir>/envs/``, written
the first time the environment is deployed to; that is the only time HAProxy reloads (the
master CLI's ``reload``, seamless: listeners pass to the new worker, and runtime server
states are saved to the server-state file first so no other environment loses its weights).
Every traffic change afterwards is a runtime command on the admin socket: ``set server
be_<env>/sN addr|weight|state|health``. The backend has ``SLOTS`` pre-declared server
slots, each one container when in use, in maintenance when free.
"""

from __future__ import annotations

import fcntl
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain.deploy_parser import MAX_REPLICAS, MAX_SURGE
from runners.deployer.errors import HAProxyUnavailable

__all__ = ["FULL_WEIGHT", "PORTS", "SLOTS", "STANDBY_SUFFIX", "HAProxy", "Slot"]

SLOTS = MAX_REPLICAS + MAX_SURGE
PORTS = range(21000, 22000)
FULL_WEIGHT = 100
_PORT = re.compile(r"^\s*bind 127\.0\.0\.1:(\d+)", re.MULTILINE)
_ENV_FILE = """\
# written by sluice deployer for environment {env}; traffic changes are runtime commands.
# Two backends: the active one is named in {env}.map (blue-green switches it with one
# `set map`); rolling and canary deployments work inside the active one.
frontend fe_{env}
    bind 127.0.0.1:{port}
    use_backend %[str(active),map({map})]
    default_backend be_{env}
{backends}"""
_BACKEND = """
backend be_{key}
    balance roundrobin
    option httpchk GET {path}
    default-server check inter 1s fall 3 rise 2 weight {weight}
{servers}
"""
STANDBY_SUFFIX = "_g"


@dataclass(frozen=True, slots=True)
class Slot:
    """One server slot of an environment's backend as HAProxy shows it."""

    name: str
    address: str  # ip:port
    in_maintenance: bool
    weight: int


class HAProxy:
    """The admin socket, the master CLI and the environment files of one HAProxy.

    Slot methods take a backend *key*: the environment's name, or its standby key
    (name + ``STANDBY_SUFFIX``); :meth:`active` says which one takes traffic.
    """

    def __init__(self, directory: str) -> None:
        self.dir = Path(directory)
        self.envs = self.dir / "envs"

    def command(self, line: str) -> str:
        """Send one runtime command to the admin socket; return HAProxy's answer."""
        return self._ask(self.dir / "admin.sock", line)

    def port_of(self, env: str) -> int | None:
        """The environment's frontend port, or None when it has no frontend yet."""
        path = self.envs / f"{env}.cfg"
        if not path.exists():
            return None
        found = _PORT.search(path.read_text())
        return int(found[1]) if found else None

    def ensure_environment(self, env: str, health_path: str) -> int:
        """The environment's frontend port; creates it (the one reload) when it is new."""
        port = self.port_of(env)
        if port is not None and self._loaded(env):
            return port
        with self._locked():
            port = self.port_of(env)
            if port is not None and self._loaded(env):
                return port  # another deployer made it meanwhile
            port = port or self._free_port()
            servers = "\n".join(f"    server s{k} 127.0.0.1:1 disabled" for k in range(SLOTS))
            backends = "".join(
                _BACKEND.format(key=key, path=health_path, weight=FULL_WEIGHT, servers=servers)
                for key in (env, env + STANDBY_SUFFIX)
            )
            self.map_path(env).write_text(f"active be_{env}\n")
            text = _ENV_FILE.format(env=env, port=port, map=self.map_path(env), backends=backends)
            (self.envs / f"{env}.cfg").write_text(text)
            self._reload(f"be_{env}", present=True)
        return port

    def _loaded(self, env: str) -> bool:
        """Whether the running HAProxy has the environment's backend (a file written before
        a reload that failed is not enough: the next deploy reloads again)."""
        try:
            return len(self.slots(env)) == SLOTS
        except HAProxyUnavailable:
            return False

    def map_path(self, env: str) -> Path:
        """The map file naming the environment's active backend."""
        return self.envs / f"{env}.map"

    def active(self, env: str) -> str:
        """The key (``env`` or ``env`` + STANDBY_SUFFIX) of the backend taking traffic."""
        text = self.map_path(env).read_text() if self.map_path(env).exists() else ""
        return text.split()[1].removeprefix("be_") if len(text.split()) == 2 else env

    def standby(self, env: str) -> str:
        """The key of the backend not taking traffic."""
        return env + STANDBY_SUFFIX if self.active(env) == env else env

    def switch(self, env: str, key: str) -> None:
        """Send all of the environment's new requests to backend ``key``: one runtime command
        (the map file is rewritten first, so a later reload keeps the choice)."""
        self.map_path(env).write_text(f"active be_{key}\n")
        self._set(f"set map {self.map_path(env)} active be_{key}")

    def remove_environment(self, env: str) -> None:
        """Delete the environment's frontend and backends (a reload)."""
        with self._locked():
            (self.envs / f"{env}.cfg").unlink(missing_ok=True)
            self.map_path(env).unlink(missing_ok=True)
            self._reload(f"be_{env}", present=False)

    def slots(self, env: str) -> list[Slot]:
        """Every server slot of the environment's backend."""
        answer = self.command(f"show servers state be_{env}")
        found = []
        for line in answer.splitlines():
            cols = line.split()
            if len(cols) < 19 or line.startswith("#"):
                continue
            maint = int(cols[6]) & 0x21 != 0  # forced or configured maintenance
            found.append(Slot(cols[3], f"{cols[4]}:{cols[18]}", maint, int(cols[7])))
        return found

    def sessions(self, env: str, slot: str) -> int:
        """Requests the slot's server is answering now (``scur`` + queued)."""
        for line in self.command(f"show stat be_{env} 4 -1").splitlines():
            cols = line.split(",")
            if len(cols) > 4 and cols[1] == slot:
                return int(cols[4] or 0) + int(cols[2] or 0)
        return 0

    def counters(self, env: str) -> dict[str, tuple[int, int]]:
        """Per slot: (answers so far, of which 5xx) — HAProxy's cumulative server counters."""
        lines = self.command(f"show stat be_{env} 4 -1").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        codes = [header.index(f"hrsp_{c}") for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")]
        found = {}
        for line in lines[1:]:
            cols = line.split(",")
            if len(cols) == len(header) and cols[1] != "BACKEND":
                values = [int(cols[i] or 0) for i in codes]
                found[cols[1]] = (sum(values), values[4])
        return found

    def weigh(self, env: str, slot: str, weight: int) -> None:
        """Set the slot's weight (0: no new requests)."""
        self._set(f"set server be_{env}/{slot} weight {weight}")

    def admit(self, env: str, slot: str, address: str, weight: int = FULL_WEIGHT) -> None:
        """Point a free slot at ``address``, enter it at weight 0, then at ``weight``."""
        host, port = address.rsplit(":", 1)
        server = f"be_{env}/{slot}"
        self._set(f"set server {server} addr {host} port {port}")
        self._set(f"set server {server} weight 0")
        self._set(f"set server {server} state ready")
        self._set(f"set server {server} health up")
        if weight:
            self._set(f"set server {server} weight {weight}")

    def drain(self, env: str, slot: str) -> None:
        """No new requests for the slot; those in flight finish."""
        self._set(f"set server be_{env}/{slot} state drain")

    def free(self, env: str, slot: str) -> None:
        """Put the slot back in maintenance (no traffic at all)."""
        self._set(f"set server be_{env}/{slot} state maint")

    def _set(self, line: str) -> None:
        answer = self.command(line).strip()
        if answer and not answer.startswith(("IP changed", "no need to change", "Health")):
            raise HAProxyUnavailable(f"HAProxy refused {line!r}: {answer}")

    def _free_port(self) -> int:
        used = {self.port_of(p.stem) for p in self.envs.glob("*.cfg")}
        for port in PORTS:
            if port not in used and not _listening(port):
                return port
        raise HAProxyUnavailable(f"no free environment port in {PORTS.start}-{PORTS.stop - 1}")

    def _reload(self, backend: str, *, present: bool) -> None:
        """Save runtime server states, reload through the master CLI, wait for the new worker.

        A reload asked while the previous one is still settling can be dropped by the
        master, so it is asked again (three times at most) until the change shows.
        """
        (self.dir / "server-state").write_text(self.command("show servers state"))
        for _ in range(3):
            self._ask_master("reload")
            if self._shows(backend, present=present, within_s=5):
                return
        raise HAProxyUnavailable(f"HAProxy's reload did not take effect for {backend}")

    def _shows(self, backend: str, *, present: bool, within_s: float) -> bool:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                shown = self.command("show backend")
                # the old worker may still answer a moment: wait for the slots to show too
                full = len(self.slots(backend.removeprefix("be_"))) == SLOTS
                if (backend in shown.split() and full) == present:
                    return True
            except HAProxyUnavailable:
                pass
            time.sleep(0.1)
        return False

    def _ask_master(self, line: str, within_s: float = 10.0) -> str:
        """Send ``line`` to the master CLI; while the master re-executes itself for a reload
        (another process's) its socket refuses connections a moment, so ask again."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                return self._ask(self.dir / "master.sock", line)
            except HAProxyUnavailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.dir / "envs.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _ask(path: Path, line: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(str(path))
                s.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := s.recv(65536):
                    chunks.append(chunk)
        except OSError as e:
            raise HAProxyUnavailable(
                f"cannot talk to HAProxy at {path}: {e}; is it running (infra/up haproxy)?"
            ) from e
        return b"".join(chunks).decode(errors="replace")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
