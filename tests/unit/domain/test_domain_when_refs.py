"""``when:`` over branches, tags and kinds of run; the ref variables stages see."""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain import StageSkipped, parse_pipeline
from orchestrator.domain.branches import branch_allowed, when_excludes
from orchestrator.domain.errors import InvalidValue, PipelineInvalid
from orchestrator.domain.model import WhenRule
from orchestrator.domain.refs import RunRef, ref_variables, trigger_key
from orchestrator.domain.statuses import PipelineEvent
from tests.unit.domain.domain_helpers import Driver, created, spec

NAMES = st.text(alphabet="abcv0123456789./-", min_size=1, max_size=12)
PATTERNS = st.lists(st.sampled_from(["*", "v*", "main", "release/*", "v1.*", "b?"]), max_size=3)
EVENTS = st.lists(st.sampled_from(list(PipelineEvent)), max_size=3, unique=True)
MR = RunRef(
    event=PipelineEvent.MERGE_REQUEST,
    merge_request_iid=7,
    merge_request_url="https://gitlab.example/p/-/merge_requests/7",
    target_branch="main",
)


def _tag(name: str) -> RunRef:
    return RunRef(event=PipelineEvent.TAG, tag=name)


@given(NAMES, st.sampled_from([RunRef(), MR]))
def test_an_empty_when_runs_in_every_run(name: str, ref: RunRef) -> None:
    assert when_excludes(WhenRule(), name, ref) is None
    assert when_excludes(WhenRule(), name, _tag(name)) is None


@given(EVENTS, NAMES, st.sampled_from([RunRef(), MR, _tag("v1.0.0")]))
def test_when_event_admits_exactly_the_listed_kinds(
    events: list[PipelineEvent], name: str, ref: RunRef
) -> None:
    when = WhenRule(events=tuple(events))

    assert (when_excludes(when, name, ref) is None) == (not events or ref.event in events)


@given(PATTERNS, NAMES)
def test_when_tags_matches_the_tag_of_a_tag_run_by_glob(tags: list[str], tag: str) -> None:
    when = WhenRule(tags=tuple(tags))

    runs = when_excludes(when, tag, _tag(tag)) is None

    assert runs == (not tags or any(fnmatchcase(tag, p) for p in tags))


@given(st.lists(st.just("v*"), min_size=1, max_size=1), NAMES, st.sampled_from([RunRef(), MR]))
def test_a_tags_only_rule_never_runs_in_a_branch_or_merge_request_run(
    tags: list[str], branch: str, ref: RunRef
) -> None:
    reason = when_excludes(WhenRule(tags=tuple(tags)), branch, ref)

    assert reason is not None and "has no tag" in reason


@given(PATTERNS.filter(bool), NAMES)
def test_a_branches_only_rule_never_runs_in_a_tag_run(branches: list[str], tag: str) -> None:
    reason = when_excludes(WhenRule(branches=tuple(branches)), tag, _tag(tag))

    assert reason is not None and "no branch" in reason


@given(PATTERNS, NAMES)
def test_a_merge_request_run_matches_branches_on_its_source_branch(
    branches: list[str], source: str
) -> None:
    when = WhenRule(branches=tuple(branches))

    assert branch_allowed(when, source, MR) == branch_allowed(when, source)


def test_branches_and_tags_together_admit_either_ref() -> None:
    when = WhenRule(branches=("main",), tags=("v*",))

    assert when_excludes(when, "main", RunRef()) is None
    assert when_excludes(when, "v2.0", _tag("v2.0")) is None
    assert when_excludes(when, "dev", RunRef()) == (
        "branch 'dev' does not match when.branches (main)"
    )
    assert when_excludes(when, "nightly", _tag("nightly")) == (
        "tag 'nightly' does not match when.tags (v*)"
    )


def test_a_merge_request_run_exposes_its_number_url_and_branches() -> None:
    assert ref_variables(MR, "feature") == {
        "SLUICE_EVENT": "merge_request",
        "SLUICE_SOURCE_BRANCH": "feature",
        "SLUICE_MERGE_REQUEST_IID": "7",
        "SLUICE_MERGE_REQUEST_URL": "https://gitlab.example/p/-/merge_requests/7",
        "SLUICE_TARGET_BRANCH": "main",
    }


def test_a_tag_run_exposes_its_tag_and_a_branch_run_only_its_kind() -> None:
    assert ref_variables(_tag("v1.0.0"), "v1.0.0") == {
        "SLUICE_EVENT": "tag",
        "SLUICE_TAG": "v1.0.0",
    }
    assert ref_variables(RunRef(), "main") == {"SLUICE_EVENT": "branch"}


@given(NAMES, st.integers(1, 10_000))
def test_branch_tag_and_merge_request_runs_of_one_commit_have_distinct_keys(
    branch: str, iid: int
) -> None:
    keys = {
        trigger_key("p", branch, "abc1234"),
        trigger_key("p", branch, "abc1234", _tag(branch)),
        trigger_key(
            "p", branch, "abc1234", RunRef(event=PipelineEvent.MERGE_REQUEST, merge_request_iid=iid)
        ),
        trigger_key(
            "p",
            branch,
            "abc1234",
            RunRef(event=PipelineEvent.MERGE_REQUEST, merge_request_iid=iid + 1),
        ),
    }

    assert len(keys) == 4
    assert trigger_key("p", branch, "abc1234") == f"p|{branch}|abc1234"


def test_when_event_and_tag_are_read_from_pipeline_yaml() -> None:
    spec = parse_pipeline(
        "name: p\nstages:\n"
        "  mr:\n    script: [make]\n    when: {event: merge_request}\n"
        "  release:\n    script: [make]\n    when: {tag: 'v*', events: [tag]}\n"
    )

    whens = {s.name: s.when for s in spec.stages}
    assert whens["mr"] == WhenRule(events=(PipelineEvent.MERGE_REQUEST,))
    assert whens["release"] == WhenRule(events=(PipelineEvent.TAG,), tags=("v*",))


def test_an_unknown_when_event_is_an_error_with_its_line() -> None:
    text = "name: p\nstages:\n  a:\n    script: [make]\n    when: {event: pull}\n"

    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(text)

    [error] = caught.value.errors
    assert isinstance(error, InvalidValue)
    assert (error.line, error.where, error.value) == (5, "stage 'a' when.event", "pull")


def test_a_merge_request_run_skips_tag_stages_and_its_jobs_carry_the_ref_variables() -> None:
    stages = [
        spec("review"),
        replace(spec("release"), when=WhenRule(tags=("v*",))),
        replace(spec("mr-only", "review"), when=WhenRule(events=(PipelineEvent.MERGE_REQUEST,))),
    ]
    first = replace(
        created(stages, branch="feature"),
        ref_type=PipelineEvent.MERGE_REQUEST,
        merge_request_iid=7,
        merge_request_url=MR.merge_request_url,
        target_branch="main",
    )

    run = Driver(stages, branch="feature", first=first)

    skipped = [e for e in run.log if isinstance(e, StageSkipped)]
    assert [(e.stage, e.reason) for e in skipped] == [
        ("release", "a merge_request run has no tag to match when.tags (v*)")
    ]
    [job] = run.last.jobs if run.last else []
    assert {k: v for k, v in job.variables.items() if k.startswith("SLUICE_")} == ref_variables(
        MR, "feature"
    )


def test_a_tag_run_runs_tag_stages_and_skips_branch_only_ones() -> None:
    stages = [
        replace(spec("release"), when=WhenRule(tags=("v*",))),
        replace(spec("deploy-main"), when=WhenRule(branches=("main",))),
    ]
    first = replace(created(stages, branch="v1.2.0"), ref_type=PipelineEvent.TAG, tag="v1.2.0")

    run = Driver(stages, branch="v1.2.0", first=first)

    skipped = [e.stage for e in run.log if isinstance(e, StageSkipped)]
    assert skipped == ["deploy-main"]
    [job] = run.last.jobs if run.last else []
    assert (job.stage.name, job.variables["SLUICE_TAG"]) == ("release", "v1.2.0")
