"""The pool's YAML file → :class:`PoolConfig`: every problem reported at once, with its line.

```yaml
min_runners: 1            # never fewer runner processes
max_runners: 8            # never more
slots_per_runner: 1       # stages one runner process runs at once
idle_time: 30s            # a runner must be idle this long before it may be drained
stabilization_window: 120s  # demand must stay lower this long before any scale-down
max_step: 4               # runners added by one scale-up decision, at most
heartbeat_timeout: 10s    # a runner silent this long is killed and replaced
start_timeout: 60s        # a starting runner silent this long is killed and replaced
warm_images: true         # keep the host's image cache warm (runners/pool/warm.py)
warm_every: 5m            # pull the toolchain and popular images again this often
warm_popular: 10          # how many of the last week's most used images, besides toolchains
periods:                  # the last period that matches the time wins
  - name: base            # no `start`: always matches
    idle_slots: 0         # free slots kept on top of demand (the floor)
    scale_factor: 1.0     # demand (busy + queued slots) is multiplied by this
  - name: office-hours
    start: "0 8 * * mon-fri"   # a cron expression (croniter): when the period begins
    timezone: Europe/Paris     # the cron's time zone (zoneinfo), UTC by default
    duration: 10h              # how long it lasts after each start
    idle_slots: 4
    scale_factor: 1.5
```

A bad file raises :class:`PoolConfigInvalid` listing every error (``path:line: message``);
the caller keeps its old config, so a bad edit changes nothing. Cron expressions are read
by croniter, time zones by the standard library's zoneinfo (the system's tz database).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from yaml.nodes import Node

from orchestrator.domain.errors import InvalidValue, MissingKey, PipelineError, PipelineInvalid
from orchestrator.domain.yamlnodes import Entry, NodeReader, compose, line_of
from schemas.errors import DomainError

__all__ = ["Period", "PoolConfig", "PoolConfigInvalid", "parse_pool_config"]

_TOP = (
    "min_runners",
    "max_runners",
    "slots_per_runner",
    "idle_time",
    "stabilization_window",
    "max_step",
    "heartbeat_timeout",
    "start_timeout",
    "warm_images",
    "warm_every",
    "warm_popular",
    "periods",
)
_PERIOD = ("name", "start", "timezone", "duration", "idle_slots", "scale_factor")
_MAX_RUNNERS = 1_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """A time of day (or week) with its own floor of idle slots and scale factor."""

    name: str
    start: str | None = None  # a cron expression; None: always matches
    timezone: str = "UTC"
    duration_ms: int = 0  # how long after each start it matches (with a start)
    idle_slots: int = 0
    scale_factor: float = 1.0


BASE_PERIOD = Period(name="base")


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConfig:
    """The worker manager's policy (see the module docstring for every key)."""

    min_runners: int = 1
    max_runners: int = 4
    slots_per_runner: int = 1
    idle_time_ms: int = 30_000
    stabilization_window_ms: int = 120_000
    max_step: int = 4
    heartbeat_timeout_ms: int = 10_000
    start_timeout_ms: int = 60_000
    warm_images: bool = True
    warm_every_ms: int = 300_000
    warm_popular: int = 10
    periods: tuple[Period, ...] = (BASE_PERIOD,)


class PoolConfigInvalid(DomainError):
    """Every problem found in a pool file, in the order of the file."""

    def __init__(self, errors: Sequence[PipelineError]) -> None:
        self.errors = tuple(sorted(errors, key=lambda e: (e.line is None, e.line or 0)))
        count = len(self.errors)
        first = self.errors[0].message if self.errors else "no details"
        super().__init__(f"{count} error{'s' if count != 1 else ''} in the pool config: {first}")

    def report(self, path: str) -> str:
        """One ``path:line: message`` line per error."""
        return "\n".join(e.located(path) for e in self.errors)


def parse_pool_config(text: str) -> PoolConfig:
    """Parse and check a pool file; raises :class:`PoolConfigInvalid` with every error."""
    try:
        root = compose(text)
    except PipelineInvalid as e:
        raise PoolConfigInvalid(e.errors) from e
    reader = NodeReader()
    config = _config(reader, root) if root is not None else PoolConfig()
    if reader.errors or config is None:
        raise PoolConfigInvalid(reader.errors or [MissingKey("the pool file", "periods", line=1)])
    return config


def _config(reader: NodeReader, root: Node) -> PoolConfig | None:
    top = reader.mapping(root, "the pool file", _TOP)
    if top is None:
        return None
    base = PoolConfig()
    ints = {k: _int(reader, top, k, low, default) for k, low, default in _INTS(base)}
    times = {k: _ms(reader, top, k, default) for k, default in _TIMES(base)}
    periods = _periods(reader, top.get("periods"))
    config = PoolConfig(
        min_runners=ints["min_runners"],
        max_runners=ints["max_runners"],
        slots_per_runner=ints["slots_per_runner"],
        max_step=ints["max_step"],
        idle_time_ms=times["idle_time"],
        stabilization_window_ms=times["stabilization_window"],
        heartbeat_timeout_ms=times["heartbeat_timeout"],
        start_timeout_ms=times["start_timeout"],
        warm_images=_bool(reader, top, "warm_images", base.warm_images),
        warm_every_ms=times["warm_every"],
        warm_popular=ints["warm_popular"],
        periods=periods,
    )
    if config.min_runners > config.max_runners:
        line = line_of(top["min_runners"][1]) if "min_runners" in top else None
        reader.fail(
            InvalidValue("min_runners", config.min_runners, "at most max_runners", line=line)
        )
    return config


def _INTS(base: PoolConfig) -> tuple[tuple[str, int, int], ...]:  # noqa: N802 (a table)
    return (
        ("min_runners", 0, base.min_runners),
        ("max_runners", 1, base.max_runners),
        ("slots_per_runner", 1, base.slots_per_runner),
        ("max_step", 1, base.max_step),
        ("warm_popular", 0, base.warm_popular),
    )


def _TIMES(base: PoolConfig) -> tuple[tuple[str, int], ...]:  # noqa: N802 (a table)
    return (
        ("idle_time", base.idle_time_ms),
        ("stabilization_window", base.stabilization_window_ms),
        ("heartbeat_timeout", base.heartbeat_timeout_ms),
        ("start_timeout", base.start_timeout_ms),
        ("warm_every", base.warm_every_ms),
    )


def _int(reader: NodeReader, top: Mapping[str, Entry], key: str, low: int, default: int) -> int:
    if key not in top:
        return default
    value = reader.integer(top[key][1], key, low, _MAX_RUNNERS)
    return default if value is None else value


def _bool(reader: NodeReader, top: Mapping[str, Entry], key: str, default: bool) -> bool:
    if key not in top:
        return default
    value = reader.boolean(top[key][1], key)
    return default if value is None else value


def _ms(reader: NodeReader, top: Mapping[str, Entry], key: str, default: int) -> int:
    if key not in top:
        return default
    value = reader.duration(top[key][1], key, positive=True)
    return default if value is None else value


def _periods(reader: NodeReader, entry: Entry | None) -> tuple[Period, ...]:
    if entry is None:
        return (BASE_PERIOD,)
    node = entry[1]
    items = getattr(node, "value", None)
    if node.tag != "tag:yaml.org,2002:seq" or not isinstance(items, list) or not items:
        reader.wrong(node, "periods", "a list of periods (at least one)")
        return (BASE_PERIOD,)
    found = [_period(reader, item, i) for i, item in enumerate(items)]
    return tuple(p for p in found if p is not None)


def _period(reader: NodeReader, node: Node, index: int) -> Period | None:
    where = f"periods[{index}]"
    entries = reader.mapping(node, where, _PERIOD)
    if entries is None:
        return None
    name = _text(reader, entries, "name", where) or f"period {index + 1}"
    start = _text(reader, entries, "start", where)
    timezone = _text(reader, entries, "timezone", where) or "UTC"
    _check_cron(reader, entries, start, where)
    _check_zone(reader, entries, timezone, where)
    duration = 0
    if start is not None:
        duration = _period_duration(reader, entries, node, where)
    idle = entries.get("idle_slots")
    factor = entries.get("scale_factor")
    idle_slots = reader.integer(idle[1], f"{where}.idle_slots", 0, 10_000) if idle else 0
    scale = reader.number(factor[1], f"{where}.scale_factor", 0.0, strict=True) if factor else 1.0
    return Period(
        name=name,
        start=start,
        timezone=timezone,
        duration_ms=duration,
        idle_slots=idle_slots or 0,
        scale_factor=scale or 1.0,
    )


def _text(reader: NodeReader, entries: Mapping[str, Entry], key: str, where: str) -> str | None:
    entry = entries.get(key)
    return reader.text(entry[1], f"{where}.{key}") if entry else None


def _period_duration(
    reader: NodeReader, entries: Mapping[str, Entry], node: Node, where: str
) -> int:
    entry = entries.get("duration")
    if entry is None:
        reader.fail(MissingKey(where, "duration", line=line_of(node)))
        return 0
    return reader.duration(entry[1], f"{where}.duration", positive=True) or 0


def _check_cron(
    reader: NodeReader, entries: Mapping[str, Entry], start: str | None, where: str
) -> None:
    if start is not None and not croniter.is_valid(start):
        line = line_of(entries["start"][1])
        reader.fail(
            InvalidValue(
                f"{where}.start", start, "a cron expression like '0 8 * * mon-fri'", line=line
            )
        )


def _check_zone(reader: NodeReader, entries: Mapping[str, Entry], zone: str, where: str) -> None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        line = line_of(entries["timezone"][1]) if "timezone" in entries else None
        allowed = "an IANA time zone like 'Europe/Paris' or 'UTC'"
        reader.fail(InvalidValue(f"{where}.timezone", zone, allowed, line=line))
