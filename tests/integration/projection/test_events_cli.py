"""``sluice events RUN_ID``: a run's decoded history, in log order."""

from __future__ import annotations

import argparse
import json
import uuid

import pytest

from orchestrator.cli import events as events_cli
from tests.integration.projection.conftest import Log
from tests.integration.projection.scenarios import cancelled, failing_unit


def _sluice_events(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sluice")
    events_cli.register(parser.add_subparsers())
    args = parser.parse_args(["events", *argv])
    result: int = args.func(args)
    return result


def test_events_prints_one_line_per_event_in_log_order(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, other = f"run-{uuid.uuid4().hex}", f"run-{uuid.uuid4().hex}"
    history = failing_unit(run_id)
    log.publish(history)
    log.publish(cancelled(other))
    assert _sluice_events(run_id, "--prefix", log.prefix) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == [type(e).__name__ for e in history]
    offsets = [int(line.split()[0]) for line in lines]
    assert offsets == sorted(offsets)
    assert lines[0].split()[1] == "2026-01-01T00:00:00.000Z"
    assert "failure_class=deterministic" in next(line for line in lines if "StageFailed" in line)


def test_events_json_prints_one_object_per_event_with_every_field(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    log.publish(cancelled(run_id))
    assert _sluice_events(run_id, "--json", "--prefix", log.prefix) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert objects[0]["event"] == "RunCreated"
    assert [s["name"] for s in objects[0]["stages"]] == ["build", "unit", "lint", "integration"]
    last = objects[-1]
    assert (last["event"], last["reason"], last["run_id"]) == (
        "RunCancelled",
        "wrong branch",
        run_id,
    )


def test_events_of_an_unknown_run_exits_1(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    assert _sluice_events("no-such-run", "--prefix", log.prefix) == 1
    assert "no events for run 'no-such-run'" in capsys.readouterr().err
