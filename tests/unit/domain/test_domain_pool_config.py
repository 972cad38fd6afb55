"""The pool's YAML file: read into a PoolConfig, or every problem reported with its line."""

from __future__ import annotations

import pytest

from orchestrator.domain.pool_config import Period, PoolConfig, PoolConfigInvalid, parse_pool_config

GOOD = """\
min_runners: 1
max_runners: 8
slots_per_runner: 2
idle_time: 30s
stabilization_window: 2m
max_step: 3
heartbeat_timeout: 10s
periods:
  - name: nights
    idle_slots: 0
    scale_factor: 1.0
  - name: office-hours
    start: "0 8 * * mon-fri"
    timezone: Europe/Paris
    duration: 10h
    idle_slots: 4
    scale_factor: 1.5
"""


def test_a_good_file_gives_every_setting() -> None:
    config = parse_pool_config(GOOD)

    assert (config.min_runners, config.max_runners, config.slots_per_runner) == (1, 8, 2)
    assert (config.idle_time_ms, config.stabilization_window_ms, config.max_step) == (
        30_000,
        120_000,
        3,
    )
    assert config.periods[1] == Period(
        name="office-hours",
        start="0 8 * * mon-fri",
        timezone="Europe/Paris",
        duration_ms=36_000_000,
        idle_slots=4,
        scale_factor=1.5,
    )


def test_an_empty_file_is_the_default_policy() -> None:
    assert parse_pool_config("") == PoolConfig()


def test_every_error_is_reported_with_its_line() -> None:
    bad = GOOD.replace('"0 8 * * mon-fri"', '"0 8 * * someday"').replace(
        "Europe/Paris", "Europe/Atlantis"
    )
    bad = bad.replace("max_step: 3", "max_steps: 3")

    with pytest.raises(PoolConfigInvalid) as caught:
        parse_pool_config(bad)

    report = caught.value.report("pool.yaml")
    assert report.splitlines()[0].startswith("pool.yaml:6: ")
    assert "max_steps" in report and "did you mean 'max_step'" in report
    assert "pool.yaml:13: periods[1].start: '0 8 * * someday' is not allowed" in report
    assert "pool.yaml:14: periods[1].timezone: 'Europe/Atlantis' is not allowed" in report


def test_min_above_max_is_an_error() -> None:
    with pytest.raises(PoolConfigInvalid, match="min_runners: 9 is not allowed"):
        parse_pool_config("min_runners: 9\nmax_runners: 2\n")


def test_a_scheduled_period_needs_a_duration() -> None:
    with pytest.raises(PoolConfigInvalid, match="needs a 'duration' key"):
        parse_pool_config('periods:\n  - name: x\n    start: "0 8 * * *"\n')


def test_broken_yaml_is_an_error_with_its_line() -> None:
    with pytest.raises(PoolConfigInvalid) as caught:
        parse_pool_config("min_runners: 1\nperiods: [\n")

    assert caught.value.errors[0].line is not None


def test_a_scale_factor_must_be_positive() -> None:
    with pytest.raises(PoolConfigInvalid, match="scale_factor"):
        parse_pool_config("periods:\n  - name: x\n    scale_factor: 0\n")
