"""The submit edge refuses a malformed request before anything reaches Kafka."""

from __future__ import annotations

import pytest

from orchestrator.domain.records import RunRequested
from orchestrator.domain.statuses import TriggerSource
from orchestrator.submit import InvalidRequest, register_pipeline, request_run, trigger_key
from projections.dedup import dedup_key
from schemas.settings import ServiceSettings

# Nothing listens here: a request that got as far as Kafka would fail differently.
NOWHERE = ServiceSettings(kafka_bootstrap="127.0.0.1:9")


def test_the_topic_key_is_the_processors_dedup_key() -> None:
    request = RunRequested(
        request_id="r",
        run_id="u",
        pipeline_id="backend",
        branch="release/1.0",
        commit_sha="ab" * 20,
        source=TriggerSource.WEBHOOK,
        requested_by="ada",
        occurred_at_ms=0,
    )
    assert trigger_key("backend", "release/1.0", "ab" * 20) == dedup_key(request)


@pytest.mark.parametrize("sha", ["", "HEAD", "zz" * 20, "--all"])
def test_a_commit_that_is_not_a_sha_is_refused(sha: str) -> None:
    with pytest.raises(InvalidRequest, match="commit_sha"):
        request_run(NOWHERE, pipeline_id="p", branch="main", commit_sha=sha, requested_by="ada")


@pytest.mark.parametrize("pipeline_id", ["", "a|b"])
def test_a_pipeline_id_that_would_break_the_key_is_refused(pipeline_id: str) -> None:
    with pytest.raises(InvalidRequest, match="pipeline_id"):
        request_run(
            NOWHERE, pipeline_id=pipeline_id, branch="main", commit_sha="a" * 40, requested_by="x"
        )


def test_a_registration_without_a_repository_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="repo_url"):
        register_pipeline(NOWHERE, pipeline_id="p", name="P", repo_url="")
