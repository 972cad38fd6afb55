"""What a GitHub or GitLab webhook delivery asks for: a run (of which ref), or nothing and why.

Pure functions over the event name and the decoded JSON body; no I/O. The field choices
follow ``shared/external/headers.md`` and the providers' documented payloads:

| delivery | commit built | branch of the run |
|---|---|---|
| GitHub ``push`` of ``refs/heads/B`` | ``after`` | B |
| GitHub ``push`` of ``refs/tags/T`` | ``head_commit.id`` (``after`` when absent) | T (a tag run) |
| GitHub ``pull_request`` opened, synchronize, reopened | ``pull_request.head.sha`` | ``head.ref`` |
| GitLab ``Push Hook`` | ``checkout_sha`` | B |
| GitLab ``Tag Push Hook`` | ``checkout_sha`` | T (a tag run) |
| GitLab ``Merge Request Hook`` open, reopen, update + ``oldrev`` | ``last_commit.id`` | source |

Deletions (``after`` all zeros, ``deleted: true``, ``checkout_sha: null``), pings, other
events and other actions are :class:`Ignored`, each with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.domain.refs import BRANCH_RUN, RunRef
from orchestrator.domain.statuses import PipelineEvent
from schemas.errors import DomainError

__all__ = ["BadPayload", "Ignored", "RunAsked", "github_delivery", "gitlab_delivery"]

_NO_COMMIT = "0" * 40
_HEADS, _TAGS = "refs/heads/", "refs/tags/"
_GITHUB_PR_ACTIONS = ("opened", "synchronize", "reopened")
_GITLAB_MR_ACTIONS = ("open", "reopen", "update")
_GITLAB_KINDS = {
    "Push Hook": "push",
    "Tag Push Hook": "tag_push",
    "Merge Request Hook": "merge_request",
}


class BadPayload(DomainError):
    """The body lacks what its event needs; the message names the field."""


@dataclass(frozen=True, slots=True)
class RunAsked:
    """The delivery asks for a run of ``commit_sha`` on ``branch`` (and ``ref``)."""

    branch: str
    commit_sha: str
    ref: RunRef = BRANCH_RUN


@dataclass(frozen=True, slots=True)
class Ignored:
    """The delivery starts nothing, for ``reason``."""

    reason: str


Delivery = RunAsked | Ignored


def github_delivery(event: str, payload: dict[str, Any]) -> Delivery:
    """What a GitHub delivery of ``X-GitHub-Event: event`` asks for."""
    if event == "push":
        return _github_push(payload)
    if event == "pull_request":
        return _github_pull_request(payload)
    if event == "ping":
        return Ignored("ping: the webhook is set up; pushes, tags and pull requests start runs")
    return Ignored(f"{event!r} events do not start runs (push and pull_request do)")


def gitlab_delivery(event: str, payload: dict[str, Any]) -> Delivery:
    """What a GitLab delivery of ``X-Gitlab-Event: event`` asks for."""
    kind = _GITLAB_KINDS.get(event)
    if kind is None:
        return Ignored(f"{event!r} does not start runs (Push, Tag Push and Merge Request Hooks do)")
    if payload.get("object_kind", kind) != kind:
        raise BadPayload(
            f"X-Gitlab-Event {event!r} does not match object_kind {payload.get('object_kind')!r}"
        )
    if kind == "merge_request":
        return _gitlab_merge_request(payload)
    ref = _text(payload, "ref")
    sha = payload.get("checkout_sha")
    if sha is None or payload.get("after") == _NO_COMMIT:
        return Ignored(f"{ref} was deleted: deletions do not start runs")
    return _ref_push(ref, _sha(sha, "checkout_sha"))


def _github_push(payload: dict[str, Any]) -> Delivery:
    ref, after = _text(payload, "ref"), _text(payload, "after")
    if payload.get("deleted") is True or after == _NO_COMMIT:
        return Ignored(f"{ref} was deleted: deletions do not start runs")
    head = payload.get("head_commit")
    sha = head.get("id") if isinstance(head, dict) and ref.startswith(_TAGS) else None
    return _ref_push(ref, _sha(sha or after, "after"))


def _ref_push(ref: str, sha: str) -> Delivery:
    if ref.startswith(_HEADS):
        return RunAsked(ref.removeprefix(_HEADS), sha)
    if ref.startswith(_TAGS):
        tag = ref.removeprefix(_TAGS)
        return RunAsked(tag, sha, RunRef(event=PipelineEvent.TAG, tag=tag))
    return Ignored(f"{ref} is neither a branch nor a tag")


def _github_pull_request(payload: dict[str, Any]) -> Delivery:
    action = payload.get("action")
    if action not in _GITHUB_PR_ACTIONS:
        allowed = ", ".join(_GITHUB_PR_ACTIONS)
        return Ignored(f"pull_request action {action!r} does not start runs ({allowed} do)")
    pr = _object(payload, "pull_request")
    head, base = _object(pr, "head"), _object(pr, "base")
    ref = RunRef(
        event=PipelineEvent.MERGE_REQUEST,
        merge_request_iid=_number(pr, "number"),
        merge_request_url=_optional_text(pr, "html_url"),
        target_branch=_text(base, "ref"),
    )
    return RunAsked(_text(head, "ref"), _sha(head.get("sha"), "pull_request.head.sha"), ref)


def _gitlab_merge_request(payload: dict[str, Any]) -> Delivery:
    attrs = _object(payload, "object_attributes")
    action = attrs.get("action")
    if action not in _GITLAB_MR_ACTIONS:
        allowed = "open, reopen, update with new commits"
        return Ignored(f"merge request action {action!r} does not start runs ({allowed} do)")
    if action == "update" and not attrs.get("oldrev"):
        return Ignored("merge request update without new commits (no oldrev): nothing to build")
    ref = RunRef(
        event=PipelineEvent.MERGE_REQUEST,
        merge_request_iid=_number(attrs, "iid"),
        merge_request_url=_optional_text(attrs, "url"),
        target_branch=_text(attrs, "target_branch"),
    )
    last = _object(attrs, "last_commit")
    sha = _sha(last.get("id"), "object_attributes.last_commit.id")
    return RunAsked(_text(attrs, "source_branch"), sha, ref)


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise BadPayload(f"the payload needs an object {key!r}")
    return value


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise BadPayload(f"the payload needs a non-empty string {key!r}")
    return value


def _optional_text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


def _number(payload: dict[str, Any], key: str) -> int:
    value = payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadPayload(f"the payload needs a number {key!r}")
    return value


def _sha(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadPayload(f"the payload needs the commit {name!r}")
    return value
