"""The request and response bodies of the API (they make up ``/openapi.json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

__all__ = [
    "ArtifactOut",
    "CronIn",
    "CronOut",
    "DeploymentOut",
    "EnvironmentOut",
    "PipelineIn",
    "PipelineOut",
    "RollbackIn",
    "RollbackOut",
    "RunIn",
    "RunOut",
    "RunPage",
    "SecretIn",
    "SecretOut",
    "StageOut",
    "TokenIn",
    "TokenOut",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_SHA = r"^[0-9a-fA-F]{7,64}$"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class _Input(BaseModel):
    """A request body: no NUL character anywhere (PostgreSQL text cannot hold one)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class RunIn(_Input):
    """A run request: ``branch`` defaults to the pipeline's default branch, ``commit_sha``
    to that branch's head in the repository now."""

    branch: str | None = Field(default=None, min_length=1, max_length=255)
    commit_sha: str | None = Field(default=None, pattern=_SHA)
    variables: dict[str, str] = Field(default_factory=dict)
    urgent: bool = False


class ImageOut(BaseModel):
    """The image an image build stage pushed."""

    name: str
    tag: str
    digest: str
    size_bytes: int


class TestOut(BaseModel):
    """One test of the stage's test report: passed, failed or skipped."""

    __test__ = False  # not a pytest class

    name: str
    outcome: str
    duration_ms: int | None = None


class StageOut(BaseModel):
    """One stage of a run."""

    name: str
    status: str
    attempt: int
    needs: list[str]
    worker: str | None
    exit_code: int | None
    failure_class: str | None
    reason: str | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    logs_url: str
    image: ImageOut | None = None
    tests: list[TestOut] = []
    environment: str | None = None  # where a deploy stage deploys


class RunOut(BaseModel):
    """A run, with its stages once the read model has them."""

    run_id: str
    pipeline_id: str
    status: str
    branch: str | None = None
    commit_sha: str | None = None
    source: str | None = None
    priority: str | None = None
    reason: str | None = None
    ref_type: str | None = None
    tag: str | None = None
    merge_request_iid: int | None = None
    merge_request_url: str | None = None
    target_branch: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    web_url: str
    stages: list[StageOut] = Field(default_factory=list)


class RunPage(BaseModel):
    """A page of runs, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    runs: list[RunOut]
    next_cursor: str | None


class PipelineIn(_Input):
    """A pipeline to register or update; ``webhook_secret`` is write-only."""

    name: str = Field(min_length=1, max_length=200)
    repo_url: str = Field(min_length=1, max_length=2000)
    config_path: str = Field(default="pipeline.yaml", min_length=1, max_length=500)
    default_branch: str = Field(default="main", min_length=1, max_length=255)
    priority: str | None = Field(default=None, pattern="^(critical|high|normal|low)$")
    webhook_secret: str | None = Field(default=None, min_length=8, max_length=500)


class PipelineCreate(PipelineIn):
    """A new pipeline, with its id."""

    pipeline_id: str = Field(pattern=_ID)


class PipelineOut(BaseModel):
    """A registered pipeline (never its webhook secret)."""

    pipeline_id: str
    name: str
    repo_url: str
    config_path: str
    default_branch: str
    priority: str | None
    created_at: datetime
    updated_at: datetime


class ArtifactOut(BaseModel):
    """A stored artifact."""

    artifact_id: str
    run_id: str
    stage: str
    name: str
    size: int
    sha256: str
    expires_at: datetime
    download_url: str


class SecretIn(_Input):
    """A secret value to set (never shown again)."""

    value: str = Field(min_length=1, max_length=65536)
    environment: str = Field(default="", max_length=100)


class SecretOut(BaseModel):
    """A secret's name and times, never its value."""

    name: str
    environment: str
    created_at: datetime
    updated_at: datetime


class TokenIn(_Input):
    """A token to create."""

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)
    pipelines: list[str] = Field(default_factory=list)


class TokenOut(BaseModel):
    """A created token; ``token`` is shown only in this response."""

    token_id: str
    token: str
    scopes: list[str]
    pipelines: list[str]


class CronIn(_Input):
    """A schedule: a standard 5-field cron expression (UTC) and the branch to build."""

    cron: str = Field(min_length=9, max_length=200)
    branch: str = Field(min_length=1, max_length=255)


class CronOut(BaseModel):
    """A schedule and when it fires next."""

    schedule_id: str
    pipeline_id: str
    cron: str
    branch: str
    next_fire_at: datetime
    last_fired_at: datetime | None


class EnvironmentOut(BaseModel):
    """An environment: what it runs now (its last succeeded deployment) and where."""

    name: str
    current_image: str | None
    current_deployment_id: str | None
    last_deployment_id: str
    updated_at: datetime
    url: str | None
    protected: bool = False  # playing or rolling back needs deploy:<name>


class ProtectionOut(BaseModel):
    """An environment's protection after a change (``changed``: whether it was not so)."""

    environment: str
    protected: bool
    changed: bool


class DeploymentOut(BaseModel):
    """One deployment to an environment."""

    deployment_id: str
    environment: str
    run_id: str
    pipeline_id: str | None
    stage: str
    attempt: int
    strategy: str
    image: str
    replicas: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # running, paused, succeeded, failed, rolled_back
    reason: str | None
    rolled_back_to: str | None
    paused_step: int | None = None  # what a promote answers, while paused
    paused_reason: str | None = None


class DecisionOut(BaseModel):
    """A promote or abort accepted onto the inbox; the deployer acts on it shortly."""

    deployment_id: str
    environment: str
    decision: str  # promote | abort
    run_id: str


class RollbackIn(BaseModel):
    """Which deployment to go back to (default: the last succeeded one of another image)."""

    to: str | None = None


class RollbackOut(BaseModel):
    """The run that redeploys the earlier image (no rebuild); or, while a canary or
    blue-green deployment is under way, the deployment aborted (``aborted``: the deployer
    sends traffic back at once, e.g. to blue while it is warm)."""

    run_id: str
    image: str
    deployment_id: str
    aborted: str | None = None
