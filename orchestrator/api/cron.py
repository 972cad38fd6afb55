"""Standard 5-field cron expressions (minute hour day-of-month month day-of-week, UTC).

Each field takes ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, and lists of
those; day-of-week is 0-7 (0 and 7 are Sunday). As in Vixie cron, when both day fields are
restricted a day matches if either does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.errors import DomainError

__all__ = ["Cron", "InvalidCron"]

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_HORIZON = timedelta(days=366 * 5)


class InvalidCron(DomainError):
    """A cron expression that is not 5 valid fields; e.g. '*/15 * * * *'."""


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed expression: the allowed values of each field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Parse ``expression``; :class:`InvalidCron` says which field is wrong."""
        fields = expression.split()
        if len(fields) != 5:
            raise InvalidCron(f"{expression!r} has {len(fields)} fields, not 5")
        sets = [
            _field(f, lo, hi, n) for f, (lo, hi), n in zip(fields, _RANGES, _NAMES, strict=True)
        ]
        weekdays = frozenset(d % 7 for d in sets[4])
        minutes, hours, days, months = sets[:4]
        return cls(minutes, hours, days, months, weekdays, fields[2] == "*", fields[4] == "*")

    def _day_matches(self, when: datetime) -> bool:
        dom = when.day in self.days
        dow = (when.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, when: datetime) -> datetime:
        """The first matching minute strictly after ``when`` (same time zone)."""
        t = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = when + _HORIZON
        while t <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise InvalidCron("the expression never matches (e.g. 30 February)")


def _field(text: str, lo: int, hi: int, name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values |= _part(part, lo, hi, name)
    return frozenset(values)


def _part(part: str, lo: int, hi: int, name: str) -> set[int]:
    span, _, step_text = part.partition("/")
    step = _number(step_text, name) if step_text else 1
    if step < 1:
        raise InvalidCron(f"the {name} step must be at least 1")
    if span == "*":
        start, end = lo, hi
    elif "-" in span:
        a, _, b = span.partition("-")
        start, end = _number(a, name), _number(b, name)
    else:
        start = _number(span, name)
        end = hi if step_text else start
    if not lo <= start <= end <= hi:
        raise InvalidCron(f"the {name} field {part!r} is outside {lo}-{hi}")
    return set(range(start, end + 1, step))


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise InvalidCron(f"the {name} field has {text!r} where a number belongs")
    return int(text)
