"""CPU time per part of a deployment a bench started, read from /proc.

CPU time is less sensitive than wall time to what else this 2-core VM runs, and it says what
a figure costs: ``cores x 1000 / ms per unit`` is the most units a second this machine can
carry, however the latency is cut. Each part's share spent in the kernel (system time:
system calls, the network stack, page faults) is printed beside it: where it is small, cutting
round trips or writes saves little, and the time is the part's own code.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


class Ticks(Counter[str]):
    """CPU ticks per part (user + system), and in :attr:`kernel` the system ticks alone."""

    def __init__(self) -> None:
        super().__init__()
        self.kernel = Counter[str]()
        self.found: set[str] = set()  # the parts a process was found of, even an idle one

    def only(self, parts: Collection[str]) -> Ticks:
        """The ticks of ``parts`` alone."""
        kept = Ticks()
        kept.found = self.found & set(parts)
        for name in parts:
            if name in self:
                kept[name], kept.kernel[name] = self[name], self.kernel[name]
        return kept


Used = tuple[int, int]  # CPU ticks used so far: user + system, system alone


def _parent_and_used(stat: str) -> tuple[int, Used]:
    """A /proc/PID/stat line's parent pid and CPU ticks used (user + system, system)."""
    fields = stat.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
    user, system = int(fields[11]), int(fields[12])
    return int(fields[1]), (user + system, system)


def cpu_ms(pid: int) -> float:
    """The CPU time process ``pid`` has used so far, in ms."""
    _, (ticks, _) = _parent_and_used(Path(f"/proc/{pid}/stat").read_text())
    return ticks * TICK_MS


def _processes() -> dict[int, tuple[int, Used, str]]:
    """pid → (parent pid, CPU ticks used so far, command line)."""
    found: dict[int, tuple[int, Used, str]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue  # ended meanwhile
        found[int(pid)] = (*_parent_and_used(stat), cmd)
    return found


def _descends_from(pid: int, ancestor: int, table: Mapping[int, tuple[int, Used, str]]) -> bool:
    while pid in table and pid > 1:
        pid = table[pid][0]
        if pid == ancestor:
            return True
    return False


def _named(parts: Mapping[str, str], own: str) -> Iterator[tuple[int, str, Used]]:
    """(pid, part, CPU ticks used so far) of Kafka, PostgreSQL, this process (named ``own``)
    and each of its descendants whose command line holds a key of ``parts`` (named by its
    value; the first key found wins)."""
    me, table = os.getpid(), _processes()
    for pid, (_, used, cmd) in table.items():
        if pid == me:
            yield pid, own, used
        elif "kafka.Kafka" in cmd:
            yield pid, "Kafka", used
        elif cmd.startswith("postgres"):
            yield pid, "PostgreSQL", used
        elif _descends_from(pid, me, table):
            name = next((n for piece, n in parts.items() if piece in cmd), None)
            if name is not None:
                yield pid, name, used


class CpuMeter:
    """CPU ticks each part used since :meth:`start`, process by process, so a process that
    starts meanwhile counts from its start. One that ends keeps what the last :meth:`sample`
    saw of it: sample every second or so when processes come and go (a pool's runners)."""

    def __init__(self, parts: Mapping[str, str], own: str) -> None:
        self._parts, self._own = parts, own
        self._seen: dict[int, tuple[str, Used, Used]] = {}  # pid → (part, first, last)
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._seen = {
                pid: (name, used, used) for pid, name, used in _named(self._parts, self._own)
            }

    def sample(self) -> None:
        with self._lock:
            for pid, name, used in _named(self._parts, self._own):
                _, first, _ = self._seen.get(pid, (name, (0, 0), (0, 0)))
                self._seen[pid] = (name, first, used)

    def ticks(self) -> Ticks:
        """The ticks each part used since :meth:`start`, as of now."""
        self.sample()
        used = Ticks()
        with self._lock:
            for name, first, last in self._seen.values():
                used.found.add(name)
                used[name] += last[0] - first[0]
                used.kernel[name] += last[1] - first[1]
        return used


def metered(work: Callable[[], T], parts: Mapping[str, str], own: str) -> tuple[T, Ticks]:
    """What ``work`` returned, and the CPU ticks each part used meanwhile."""
    meter = CpuMeter(parts, own)
    meter.start()
    done = work()
    return done, meter.ticks()


def print_cpu_per(
    ticks: Counter[str], units: float, unit: str, expected: Collection[str] = ()
) -> float:
    """Print each part's CPU per unit (largest first), with its share in the kernel when
    ``ticks`` are :class:`Ticks`, and each of ``expected`` no process was found of (its CPU
    is missing from the total: its command line is not what the bench looks for); return
    the total in ms."""
    kernel = ticks.kernel if isinstance(ticks, Ticks) else None
    used = {name: n * TICK_MS / units for name, n in ticks.items()}
    print(f"  CPU per {unit} ({units:,g}; /proc, {TICK_MS:g} ms ticks; less sensitive than wall")
    print("  time to what else this machine runs):")
    for name, ms in sorted(used.items(), key=lambda kv: -kv[1]):
        system = None if kernel is None else kernel[name]
        print(f"    {name:<36} {ms:7.2f} ms{_in_kernel(system, ticks[name])}")
    found = ticks.found if isinstance(ticks, Ticks) else set(ticks)
    for name in sorted(set(expected) - found):
        print(f"    {name:<36} no process found: its CPU is not in the total")
    total = sum(used.values())
    system = None if kernel is None else sum(kernel.values())
    print(f"    {'total':<36} {total:7.2f} ms{_in_kernel(system, sum(ticks.values()))}")
    return total


def _in_kernel(system: int | None, ticks: int) -> str:
    """The share of ``ticks`` that ``system`` is, as printed beside them (nothing unknown)."""
    if system is None or not ticks:
        return ""
    return f"  ({system / ticks:.0%} in the kernel)"
