"""A trigger processor killed mid-stream and started again loses no trigger and no dedup."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from orchestrator.domain.events import RunCreated, RunDeduplicated
from orchestrator.domain.records import RunRequested
from tests.integration.triggers.conftest import VALID_PIPELINE, Processor, Triggers

pytestmark = pytest.mark.integration

BRANCHES = [f"feature/{i}" for i in range(12)]


def trigger_each_branch(triggers: Triggers, sha: str) -> dict[str, RunRequested]:
    return {b: triggers.request(branch=b, commit_sha=sha) for b in BRANCHES}


def answered(answers: list[object], field: str) -> set[str]:
    return {getattr(a, field, "") for a in answers}


def test_a_killed_processor_restarted_answers_every_trigger_once(
    processor: Processor, triggers: Triggers
) -> None:
    inbox = triggers.inbox
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    firsts = trigger_each_branch(triggers, sha)
    first_ids = {r.run_id for r in firsts.values()}
    inbox.wait(lambda: len(inbox.about(first_ids)) >= 3)
    assert processor.stop(signal.SIGKILL) == -signal.SIGKILL
    repeats = trigger_each_branch(triggers, sha)
    repeat_ids = {r.request_id for r in repeats.values()}
    processor.start()

    inbox.wait(lambda: answered(inbox.about(repeat_ids), "request_id") >= repeat_ids, timeout=45)
    inbox.wait(lambda: answered(inbox.about(first_ids), "run_id") >= first_ids)
    answers = inbox.about(first_ids | repeat_ids)
    created = {a.run_id for a in answers if isinstance(a, RunCreated)}
    dedup = {a.request_id: a.run_id for a in answers if isinstance(a, RunDeduplicated)}
    assert created == first_ids
    assert dedup == {repeats[b].request_id: firsts[b].run_id for b in BRANCHES}


def test_sigterm_stops_the_processor_cleanly(processor: Processor, triggers: Triggers) -> None:
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    request = triggers.request(commit_sha=sha)
    assert isinstance(triggers.answer_to(request.run_id), RunCreated)
    stopped = processor.stop(signal.SIGTERM)
    processor.start()  # for whichever test of this module runs next
    assert stopped == 0


def test_a_running_processor_keeps_the_command_line_it_was_started_with(
    processor: Processor, triggers: Triggers
) -> None:
    # `make down` (orchestrator.daemons) knows its processor by this command line.
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    request = triggers.request(commit_sha=sha)
    assert isinstance(triggers.answer_to(request.run_id), RunCreated)
    assert processor.proc is not None
    shown = Path(f"/proc/{processor.proc.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert [part.decode() for part in shown] == processor.proc.args
