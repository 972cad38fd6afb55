"""What a run builds besides its commit: a branch, a tag, or a merge (pull) request.

``RunRequested`` and ``RunCreated`` carry the same flat fields (``ref_type``, ``tag``,
``merge_request_iid``, ``merge_request_url``, ``target_branch``); :func:`ref_of` gathers
them into one :class:`RunRef`. A tag run's ``branch`` is the tag's name (the ref name, as
GitLab's ``CI_COMMIT_REF_NAME``); a merge request run's is its source branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestrator.domain.statuses import PipelineEvent

__all__ = ["BRANCH_RUN", "RefFields", "RunRef", "ref_of", "ref_variables", "trigger_key"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRef:
    """The kind of run and, for tags and merge requests, what they are."""

    event: PipelineEvent = PipelineEvent.BRANCH
    tag: str | None = None
    merge_request_iid: int | None = None
    merge_request_url: str | None = None
    target_branch: str | None = None


BRANCH_RUN = RunRef()


class RefFields(Protocol):
    """A record with the ref fields (``RunRequested``, ``RunCreated``)."""

    @property
    def ref_type(self) -> PipelineEvent: ...
    @property
    def tag(self) -> str | None: ...
    @property
    def merge_request_iid(self) -> int | None: ...
    @property
    def merge_request_url(self) -> str | None: ...
    @property
    def target_branch(self) -> str | None: ...


def ref_of(record: RefFields) -> RunRef:
    """The :class:`RunRef` a record's flat fields describe."""
    return RunRef(
        event=record.ref_type,
        tag=record.tag,
        merge_request_iid=record.merge_request_iid,
        merge_request_url=record.merge_request_url,
        target_branch=record.target_branch,
    )


def trigger_key(pipeline_id: str, branch: str, commit_sha: str, ref: RunRef = BRANCH_RUN) -> str:
    """The key of ``sluice.triggers`` and of the dedup table.

    ``pipeline|branch|sha`` for a branch run (as before tags and merge requests existed);
    a tag run adds ``|tag``, a merge request run ``|mr<iid>``, so the branch run, the tag
    run and each merge request's run of one commit are distinct runs, never duplicates.
    """
    key = f"{pipeline_id}|{branch}|{commit_sha}"
    if ref.event is PipelineEvent.TAG:
        return f"{key}|tag"
    if ref.event is PipelineEvent.MERGE_REQUEST:
        return f"{key}|mr{ref.merge_request_iid}"
    return key


def ref_variables(ref: RunRef, branch: str) -> dict[str, str]:
    """The ``SLUICE_*`` variables a stage of such a run sees (unset ones are left out)."""
    found = {"SLUICE_EVENT": ref.event.value}
    if ref.event is PipelineEvent.TAG and ref.tag is not None:
        found["SLUICE_TAG"] = ref.tag
    if ref.event is PipelineEvent.MERGE_REQUEST:
        found["SLUICE_SOURCE_BRANCH"] = branch
        optional = {
            "SLUICE_MERGE_REQUEST_IID": ref.merge_request_iid,
            "SLUICE_MERGE_REQUEST_URL": ref.merge_request_url,
            "SLUICE_TARGET_BRANCH": ref.target_branch,
        }
        found |= {name: str(value) for name, value in optional.items() if value is not None}
    return found
