"""The simulated executor's declared duration, and the runner's status file for the pool."""

from __future__ import annotations

from pathlib import Path

from orchestrator.domain.model import StageSpec
from runners.simulated import declared_duration_ms
from runners.status import StatusFile, read_status


def test_the_declared_duration_is_the_sum_of_the_script_sleeps() -> None:
    stage = StageSpec(name="s", script=("make", "sleep 2", "sleep 0.5 && sleep 1", "echo sleep 9"))

    assert declared_duration_ms(stage) == 3_500


def test_a_script_without_sleep_declares_no_time() -> None:
    assert declared_duration_ms(StageSpec(name="s", script=("true",))) == 0


def test_the_status_file_says_since_when_the_runner_is_idle(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    status = StatusFile(path, runner_id="r1", slots=2)

    status.update(busy=1, draining=False)
    busy = read_status(path)
    status.update(busy=0, draining=True)
    idle = read_status(path)

    assert busy is not None and (busy.busy, busy.idle_since_ms) == (1, None)
    assert idle is not None and idle.draining and idle.idle_since_ms is not None


def test_a_missing_or_torn_status_file_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / "torn.json").write_text('{"runner_id": ')

    assert read_status(tmp_path / "missing.json") is None
    assert read_status(tmp_path / "torn.json") is None
