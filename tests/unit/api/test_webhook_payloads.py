"""What each real GitHub and GitLab delivery asks for (bodies from shared/external/webhooks)."""

from __future__ import annotations

import json

import pytest

from orchestrator.api.webhook_payloads import (
    BadPayload,
    Ignored,
    RunAsked,
    github_delivery,
    gitlab_delivery,
)
from orchestrator.domain.refs import RunRef
from orchestrator.domain.statuses import PipelineEvent
from tests.support.external import webhook

MR = PipelineEvent.MERGE_REQUEST


def _github(event: str, name: str) -> RunAsked | Ignored:
    return github_delivery(event, json.loads(webhook("github", name)))


def _gitlab(event: str, name: str) -> RunAsked | Ignored:
    return gitlab_delivery(event, json.loads(webhook("gitlab", name)))


def test_a_github_branch_push_builds_after_on_its_branch() -> None:
    body = json.loads(webhook("github", "push-branch.go-scm"))

    assert _github("push", "push-branch.go-scm") == RunAsked("master", body["after"])
    assert body["after"] == body["head_commit"]["id"]


@pytest.mark.parametrize(
    ("name", "branch"),
    [("push-branch-created.go-scm", "feature-branch"), ("push-branch-created.octokit", "master")],
)
def test_a_github_branch_creation_builds_its_head(name: str, branch: str) -> None:
    asked = _github("push", name)
    body = json.loads(webhook("github", name))

    assert asked == RunAsked(branch, body["head_commit"]["id"])


def test_a_github_tag_push_starts_a_tag_run() -> None:
    asked = _github("push", "push-tag-created.go-scm")

    assert asked == RunAsked(
        "v0.0.1",
        json.loads(webhook("github", "push-tag-created.go-scm"))["head_commit"]["id"],
        RunRef(event=PipelineEvent.TAG, tag="v0.0.1"),
    )


@pytest.mark.parametrize(
    "name", ["push-branch-deleted.go-scm", "push-tag-deleted.go-scm", "push-tag-deleted.octokit"]
)
def test_a_github_deletion_is_ignored_with_why(name: str) -> None:
    asked = _github("push", name)

    assert isinstance(asked, Ignored) and "was deleted" in asked.reason


@pytest.mark.parametrize(
    ("name", "number", "head", "base"),
    [
        ("pull_request-opened.octokit", 2, "changes", "master"),
        ("pull_request-synchronize.octokit", 2, "changes", "master"),
        ("pull_request-opened.go-scm", 1, "master", "bradrydzewski-patch-1"),
        ("pull_request-synchronize.go-scm", 1, "master", "bradrydzewski-patch-1"),
    ],
)
def test_a_github_pull_request_builds_its_head_for_its_base(
    name: str, number: int, head: str, base: str
) -> None:
    pr = json.loads(webhook("github", name))["pull_request"]

    assert _github("pull_request", name) == RunAsked(
        head,
        pr["head"]["sha"],
        RunRef(
            event=MR, merge_request_iid=number, merge_request_url=pr["html_url"], target_branch=base
        ),
    )


def test_a_closed_pull_request_is_ignored_with_why() -> None:
    body = json.loads(webhook("github", "pull_request-opened.octokit"))

    asked = github_delivery("pull_request", {**body, "action": "closed"})

    assert asked == Ignored(
        "pull_request action 'closed' does not start runs (opened, synchronize, reopened do)"
    )


@pytest.mark.parametrize("name", ["ping.octokit", "ping-app.octokit"])
def test_a_github_ping_is_ignored_with_why(name: str) -> None:
    assert isinstance(_github("ping", name), Ignored)


@pytest.mark.parametrize(
    ("name", "branch", "sha"),
    [
        ("push.gitlab-docs", "master", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"),
        ("push.go-scm", "master", "2adc9465c4edfc33834e173fe89436a7cb899a1d"),
        ("push-branch-created.go-scm", "feature", "c4c79227ed610f1151f05bbc5be33b4f340d39c8"),
    ],
)
def test_a_gitlab_push_builds_checkout_sha(name: str, branch: str, sha: str) -> None:
    assert _gitlab("Push Hook", name) == RunAsked(branch, sha)


@pytest.mark.parametrize(
    ("name", "sha"),
    [
        ("tag_push.gitlab-docs", "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"),
        ("tag_push-created.go-scm", "2adc9465c4edfc33834e173fe89436a7cb899a1d"),
    ],
)
def test_a_gitlab_tag_push_starts_a_tag_run(name: str, sha: str) -> None:
    assert _gitlab("Tag Push Hook", name) == RunAsked(
        "v1.0.0", sha, RunRef(event=PipelineEvent.TAG, tag="v1.0.0")
    )


@pytest.mark.parametrize(
    ("event", "name"),
    [("Push Hook", "push-branch-deleted.go-scm"), ("Tag Push Hook", "tag_push-deleted.go-scm")],
)
def test_a_gitlab_deletion_is_ignored_with_why(event: str, name: str) -> None:
    asked = _gitlab(event, name)

    assert isinstance(asked, Ignored) and "was deleted" in asked.reason


@pytest.mark.parametrize(
    ("name", "iid", "source", "sha"),
    [
        ("merge_request-open.gitlab-docs", 1, "ms-viewport", "da1560886d4f"),
        ("merge_request-open.go-scm", 1, "feature", "c4c79227ed61"),
        ("merge_request-update-oldrev.go-gitlab", 2, "next-feature", "0ab96a10266b"),
    ],
)
def test_a_gitlab_merge_request_builds_its_last_commit(
    name: str, iid: int, source: str, sha: str
) -> None:
    attrs = json.loads(webhook("gitlab", name))["object_attributes"]

    asked = _gitlab("Merge Request Hook", name)

    assert isinstance(asked, RunAsked) and asked.commit_sha.startswith(sha)
    assert asked == RunAsked(
        source,
        asked.commit_sha,
        RunRef(
            event=MR, merge_request_iid=iid, merge_request_url=attrs["url"], target_branch="master"
        ),
    )


def test_a_gitlab_merge_request_update_without_new_commits_is_ignored() -> None:
    body = json.loads(webhook("gitlab", "merge_request-update-oldrev.go-gitlab"))
    del body["object_attributes"]["oldrev"]  # a title or label edit

    asked = gitlab_delivery("Merge Request Hook", body)

    assert asked == Ignored(
        "merge request update without new commits (no oldrev): nothing to build"
    )


def test_a_gitlab_event_header_that_contradicts_the_body_is_bad() -> None:
    with pytest.raises(BadPayload, match="does not match object_kind 'tag_push'"):
        _gitlab("Push Hook", "tag_push.gitlab-docs")


def test_another_gitlab_hook_is_ignored_with_why() -> None:
    asked = gitlab_delivery("Pipeline Hook", {"object_kind": "pipeline"})

    assert isinstance(asked, Ignored) and "'Pipeline Hook' does not start runs" in asked.reason
