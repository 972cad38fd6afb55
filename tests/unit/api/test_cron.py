"""The 5-field cron parser and its next firing time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.api.cron import Cron, InvalidCron

THU = datetime(2026, 11, 26, 10, 7, 30, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", datetime(2026, 11, 26, 10, 8, tzinfo=UTC)),
        ("*/15 * * * *", datetime(2026, 11, 26, 10, 15, tzinfo=UTC)),
        ("0 3 * * 1", datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),
        ("30 9-17/4 * * *", datetime(2026, 11, 26, 13, 30, tzinfo=UTC)),
        ("0 0 1,15 * *", datetime(2026, 12, 1, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2028, 2, 29, tzinfo=UTC)),
        ("0 12 * * 7", datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),
    ],
)
def test_next_after_is_the_first_matching_minute_strictly_later(
    expression: str, expected: datetime
) -> None:
    assert Cron.parse(expression).next_after(THU) == expected


def test_restricted_day_of_month_and_week_match_either_as_vixie_cron() -> None:
    assert Cron.parse("0 0 1 * 5").next_after(THU) == datetime(2026, 11, 27, tzinfo=UTC)


def test_a_time_exactly_on_a_match_gives_the_next_one() -> None:
    on = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
    assert Cron.parse("*/15 * * * *").next_after(on) == datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("* * * *", "fields"),
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day of week"),
        ("*/0 * * * *", "minute"),
        ("a * * * *", "minute"),
    ],
)
def test_an_invalid_expression_names_the_field(expression: str, field: str) -> None:
    with pytest.raises(InvalidCron, match=field):
        Cron.parse(expression)


def test_an_expression_that_never_matches_is_invalid() -> None:
    with pytest.raises(InvalidCron, match="never matches"):
        Cron.parse("0 0 30 2 *").next_after(THU)
