"""The trigger processor on real Kafka with real git repositories: create, reject, dedup."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator import submit
from orchestrator.domain.events import RunCreated, RunDeduplicated, RunRejected
from orchestrator.domain.refs import RunRef
from orchestrator.domain.statuses import PipelineEvent, Priority, TriggerSource
from schemas.eventlog import TopicNames, partition_for
from schemas.topics import TRIGGERS
from tests.integration.triggers.conftest import VALID_PIPELINE, Triggers

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("branch", "source", "priority"),
    [
        ("main", TriggerSource.WEBHOOK, Priority.HIGH),
        ("release/2.4", TriggerSource.WEBHOOK, Priority.CRITICAL),
        ("main", TriggerSource.CRON, Priority.LOW),
    ],
)
def test_a_valid_pipeline_creates_a_run_with_its_stages_and_priority(
    triggers: Triggers, branch: str, source: TriggerSource, priority: Priority
) -> None:
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE}, branch=branch)
    request = triggers.request(branch=branch, commit_sha=sha, source=source)
    created = triggers.answer_to(request.run_id)
    assert isinstance(created, RunCreated)
    assert [s.name for s in created.stages] == [
        "build",
        "unit-tests",
        "integration [python=3.10]",
        "integration [python=3.11]",
    ]
    assert (created.priority, created.commit_sha) == (priority, sha)


def test_an_invalid_pipeline_is_rejected_with_its_errors(triggers: Triggers) -> None:
    broken = "name: x\nstages:\n  a:\n    needs: [b]\n    script: [x]\n"
    request = triggers.request(commit_sha=triggers.repo.commit({"pipeline.yaml": broken}))
    rejected = triggers.answer_to(request.run_id)
    assert isinstance(rejected, RunRejected)
    assert "pipeline.yaml:4: stage 'a' needs 'b', which is not a stage" in rejected.reason


def test_an_unknown_commit_is_rejected(triggers: Triggers) -> None:
    triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    rejected = triggers.answer_to(triggers.request(commit_sha="0" * 40).run_id)
    assert isinstance(rejected, RunRejected)
    assert f"commit {'0' * 40} is not in" in rejected.reason


def test_a_repeat_of_a_rejected_request_is_rejected_again_not_deduplicated(
    triggers: Triggers,
) -> None:
    triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    first = triggers.answer_to(triggers.request(commit_sha="1" * 40).run_id)
    again = triggers.answer_to(triggers.request(commit_sha="1" * 40).run_id)
    assert isinstance(first, RunRejected) and isinstance(again, RunRejected)
    assert again.reason == first.reason


def test_tag_and_merge_request_runs_of_a_pushed_commit_are_not_its_duplicates(
    triggers: Triggers,
) -> None:
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    mr = RunRef(event=PipelineEvent.MERGE_REQUEST, merge_request_iid=4, target_branch="main")
    answers = [
        triggers.answer_to(triggers.request(commit_sha=sha, ref=ref).run_id)
        for ref in (RunRef(), mr, RunRef(event=PipelineEvent.TAG, tag="v1"))
    ]
    assert all(isinstance(a, RunCreated) for a in answers)
    created = [a for a in answers if isinstance(a, RunCreated)]
    assert [(a.ref_type, a.tag, a.merge_request_iid) for a in created] == [
        (PipelineEvent.BRANCH, None, None),
        (PipelineEvent.MERGE_REQUEST, None, 4),
        (PipelineEvent.TAG, "v1", None),
    ]


def test_an_unknown_pipeline_is_rejected(triggers: Triggers) -> None:
    request = triggers.request(pipeline_id="nobody-registered-me", commit_sha="a" * 40)
    rejected = triggers.answer_to(request.run_id)
    assert isinstance(rejected, RunRejected)
    assert "unknown pipeline" in rejected.reason


def test_twenty_concurrent_identical_triggers_make_one_run(triggers: Triggers) -> None:
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    with ThreadPoolExecutor(max_workers=20) as pool:
        mine = set(pool.map(lambda _: triggers.request(commit_sha=sha).run_id, range(20)))
    triggers.inbox.wait(lambda: len(triggers.inbox.about(mine)) >= 20)
    answers = triggers.inbox.about(mine)
    created = [a for a in answers if isinstance(a, RunCreated)]
    duplicates = [a for a in answers if isinstance(a, RunDeduplicated)]
    assert (len(created), len(duplicates)) == (1, 19)
    assert {d.run_id for d in duplicates} == {created[0].run_id}


def test_the_same_trigger_after_the_window_makes_a_new_run(triggers: Triggers) -> None:
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    first = triggers.request(commit_sha=sha, occurred_at_ms=1_000_000)
    again = triggers.request(commit_sha=sha, occurred_at_ms=1_000_000 + 61_000)
    assert isinstance(triggers.answer_to(first.run_id), RunCreated)
    assert isinstance(triggers.answer_to(again.run_id), RunCreated)


def test_a_malformed_trigger_is_skipped_and_the_next_one_answered(triggers: Triggers) -> None:
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})
    key = f"{triggers.pipeline_id}|main|{sha}".encode()
    topic = TopicNames(triggers.prefix).triggers
    triggers.kafka.produce(topic, key=key, value=b"not avro at all")
    triggers.kafka.flush(10)
    request = triggers.request(commit_sha=sha)
    assert isinstance(triggers.answer_to(request.run_id), RunCreated)


def test_a_key_long_past_its_window_is_forgotten(triggers: Triggers) -> None:
    sha = triggers.repo.commit({"pipeline.yaml": VALID_PIPELINE})

    def partition(branch: str) -> int:
        return partition_for(f"{triggers.pipeline_id}|{branch}|{sha}", TRIGGERS.partitions)

    # a second branch whose triggers share the first one's partition (and dedup table part)
    other = next(b for b in (f"other-{i}" for i in range(1000)) if partition(b) == partition("a"))
    first = triggers.request(branch="a", commit_sha=sha, occurred_at_ms=1_000_000)
    assert isinstance(triggers.answer_to(first.run_id), RunCreated)
    later = triggers.request(branch=other, commit_sha=sha, occurred_at_ms=1_000_000 + 11 * 60_000)
    assert isinstance(triggers.answer_to(later.run_id), RunCreated)
    straggler = triggers.request(branch="a", commit_sha=sha, occurred_at_ms=1_000_000 + 30_000)
    assert isinstance(triggers.answer_to(straggler.run_id), RunCreated)


GITLAB_CI = """\
stages: [build, test]
compile:
  stage: build
  image: alpine:3
  script: [make]
release:
  stage: test
  image: alpine:3
  script: [make release]
  rules:
    - if: $CI_COMMIT_TAG
"""


def _gitlab_pipeline(triggers: Triggers, text: str) -> tuple[str, str]:
    pid = f"{triggers.pipeline_id}-gl"
    submit.register_pipeline(
        triggers.kafka,
        pipeline_id=pid,
        name=pid,
        repo_url=triggers.repo.url,
        config_path=".gitlab-ci.yml",
        prefix=triggers.prefix,
    )
    return pid, triggers.repo.commit({".gitlab-ci.yml": text})


def test_a_gitlab_ci_file_named_by_config_path_is_imported(triggers: Triggers) -> None:
    pid, sha = _gitlab_pipeline(triggers, GITLAB_CI)

    created = triggers.answer_to(triggers.request(pipeline_id=pid, commit_sha=sha).run_id)

    assert isinstance(created, RunCreated), created
    assert [(s.name, s.needs, s.when.tags) for s in created.stages] == [
        ("compile", (), ()),
        ("release", ("compile",), ("*",)),
    ]


def test_a_gitlab_ci_file_asking_for_what_sluice_would_not_do_is_rejected_with_the_report(
    triggers: Triggers,
) -> None:
    pid, sha = _gitlab_pipeline(triggers, GITLAB_CI + "  services: [postgres]\n")

    rejected = triggers.answer_to(triggers.request(pipeline_id=pid, commit_sha=sha).run_id)

    assert isinstance(rejected, RunRejected)
    assert ".gitlab-ci.yml:12: dropped: job 'release': services: is not carried over" in (
        rejected.reason
    )
