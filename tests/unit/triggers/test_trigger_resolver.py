"""Resolving a request: rejected with a reason when it is wrong, retried when a service hiccups."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.domain.events import RunCreated, RunRejected
from orchestrator.domain.records import PipelineRegistered, RunRequested
from orchestrator.domain.statuses import TriggerSource
from projections.pipeline_source import GitUnavailable, UnknownCommit
from projections.trigger_resolver import TriggerResolver

PIPELINE_FILE = "name: x\nstages:\n  build:\n    script: [make]\n"
PIPELINE = PipelineRegistered(
    pipeline_id="p",
    name="P",
    repo_url="file:///srv/p.git",
    config_path="ci/pipeline.yaml",
    default_branch="main",
    occurred_at_ms=0,
)
REQUEST = RunRequested(
    request_id="q",
    run_id="r",
    pipeline_id="p",
    branch="main",
    commit_sha="c" * 40,
    source=TriggerSource.API,
    requested_by="ada",
    occurred_at_ms=5,
)


@dataclass
class Catalogue:
    known: dict[str, PipelineRegistered] = field(default_factory=lambda: {"p": PIPELINE})
    fresh: bool = True

    def lookup(self, pipeline_id: str) -> PipelineRegistered | None:
        return self.known.get(pipeline_id)

    def peek(self, pipeline_id: str) -> tuple[bool, PipelineRegistered | None]:
        known = self.fresh and pipeline_id in self.known
        return (True, self.known[pipeline_id]) if known else (False, None)


@dataclass
class Source:
    outcomes: list[str | Exception]
    reads: list[tuple[str, str, str]] = field(default_factory=list)
    texts: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def remembered(self, repo_url: str, commit_sha: str, path: str) -> str | None:
        return self.texts.get((repo_url, commit_sha, path))

    def read(self, repo_url: str, commit_sha: str, path: str) -> str:
        self.reads.append((repo_url, commit_sha, path))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def resolver(source: Source, catalogue: Catalogue | None = None) -> TriggerResolver:
    return TriggerResolver(
        catalogue=catalogue or Catalogue(),  # type: ignore[arg-type]
        source=source,  # type: ignore[arg-type]
        tries=3,
        sleep=lambda _: None,
    )


def test_the_file_is_read_at_the_requested_commit_and_path() -> None:
    source = Source([PIPELINE_FILE])
    assert isinstance(resolver(source).resolve(REQUEST, "k"), RunCreated)
    assert source.reads == [("file:///srv/p.git", "c" * 40, "ci/pipeline.yaml")]


def test_an_unknown_commit_is_rejected_with_the_source_error() -> None:
    answer = resolver(Source([UnknownCommit("commit cc is not in p; was it pushed?")])).resolve(
        REQUEST, "k"
    )
    assert isinstance(answer, RunRejected)
    assert answer.reason == "commit cc is not in p; was it pushed?"


def test_an_unknown_pipeline_is_rejected_without_reading_git() -> None:
    source = Source([])
    answer = resolver(source, Catalogue(known={})).resolve(REQUEST, "k")
    assert isinstance(answer, RunRejected)
    assert source.reads == []


def test_a_passing_git_failure_is_retried() -> None:
    source = Source([GitUnavailable("timeout"), PIPELINE_FILE])
    assert isinstance(resolver(source).resolve(REQUEST, "k"), RunCreated)


def test_a_lasting_git_failure_is_rejected_after_the_last_try() -> None:
    source = Source([GitUnavailable("git fetch took too long")] * 3)
    answer = resolver(source).resolve(REQUEST, "k")
    assert isinstance(answer, RunRejected)
    assert answer.reason.startswith("git fetch took too long; request the run again")


def test_an_unexpected_failure_rejects_the_request_instead_of_stopping_the_processor() -> None:
    answer = resolver(Source([KeyError("bug")])).resolve(REQUEST, "k")
    assert isinstance(answer, RunRejected)
    assert "failed on this request (KeyError)" in answer.reason


def remembering(text: str) -> Source:
    return Source([], texts={("file:///srv/p.git", "c" * 40, "ci/pipeline.yaml"): text})


def test_a_file_read_before_at_that_commit_is_answered_at_once_without_git() -> None:
    source = remembering(PIPELINE_FILE)
    answer = resolver(source).resolve_at_once(REQUEST, "k")
    assert isinstance(answer, RunCreated)
    assert answer == resolver(Source([PIPELINE_FILE])).resolve(REQUEST, "k")
    assert source.reads == []


def test_a_file_never_read_is_left_to_resolve() -> None:
    assert resolver(Source([PIPELINE_FILE])).resolve_at_once(REQUEST, "k") is None


def test_a_pipeline_not_read_lately_is_left_to_resolve() -> None:
    stale = Catalogue(fresh=False)
    assert resolver(remembering(PIPELINE_FILE), stale).resolve_at_once(REQUEST, "k") is None


def test_an_invalid_file_read_before_is_rejected_at_once_as_resolve_would() -> None:
    broken = "name: x\nstages:\n  build:\n    needs: [nowhere]\n    script: [make]\n"
    at_once = resolver(remembering(broken)).resolve_at_once(REQUEST, "k")
    assert isinstance(at_once, RunRejected)
    assert at_once == resolver(Source([broken])).resolve(REQUEST, "k")
