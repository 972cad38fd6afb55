"""The shared records of docs/events.md: what a resolved stage looks like.

Field names are the catalogue's. Arrays are tuples; maps are plain dicts that nobody mutates
(the records are frozen, so a changed stage is always a new object).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.domain.statuses import FailureClass, PipelineEvent, Priority

__all__ = [
    "DEFAULT_ARTIFACT_EXPIRY_MS",
    "DEFAULT_IMAGE",
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT_MS",
    "MANUAL_PAUSE",
    "ArtifactSpec",
    "CacheSpec",
    "CanaryAnalysis",
    "CanaryStep",
    "DeploySpec",
    "ImageBuildSpec",
    "Resources",
    "RetryPolicy",
    "StageSpec",
    "WhenRule",
]

DEFAULT_IMAGE = "debian-git:bookworm"
DEFAULT_TIMEOUT_MS = 3_600_000
DEFAULT_ARTIFACT_EXPIRY_MS = 30 * 86_400_000
DEFAULT_MEMORY_BYTES = 2 * 1024**3
MANUAL_PAUSE = -1  # a canary step's pause_ms for `pause: manual` (no new Avro field needed)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When a failed attempt is tried again, and how long to wait first."""

    max: int = 2
    when: tuple[FailureClass, ...] = (FailureClass.FLAKY,)
    backoff_base_ms: int = 2_000
    backoff_factor: float = 2.0
    backoff_cap_ms: int = 300_000


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactSpec:
    """Files a stage keeps after it ends, and for how long."""

    paths: tuple[str, ...]
    expire_in_ms: int = DEFAULT_ARTIFACT_EXPIRY_MS


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """What one attempt's container may use."""

    cpus: float = 1.0
    memory_bytes: int = DEFAULT_MEMORY_BYTES


@dataclass(frozen=True, slots=True, kw_only=True)
class WhenRule:
    """On which refs and kinds of run a stage runs, and whether a person must start it.

    ``branches`` and ``tags`` are glob patterns; ``events`` the kinds of run (empty = all).
    See :func:`orchestrator.domain.branches.when_excludes` for how they combine.
    """

    branches: tuple[str, ...] = ()
    manual: bool = False
    events: tuple[PipelineEvent, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryStep:
    """One step of a canary: this share of the traffic (percent), held for ``pause_ms``
    (:data:`MANUAL_PAUSE`: until a person promotes or aborts the deployment)."""

    weight: int
    pause_ms: int

    @property
    def manual(self) -> bool:
        """Whether the step waits for a person (``pause: manual``)."""
        return self.pause_ms == MANUAL_PAUSE


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryAnalysis:
    """When a canary step passes: error rate and latency limits, and the traffic it needs."""

    max_error_rate: float = 0.01
    max_p95_ms: int | None = None
    min_requests: int = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploySpec:
    """Where and how a deploy stage deploys (the keys of ``deploy:``, defaults applied).

    ``image`` None means "the image the run built" (once image builds exist; until then the
    parser requires the key).
    """

    environment: str
    strategy: str = "rolling"
    health_check_path: str | None = None
    image: str | None = None
    replicas: int = 2
    port: int = 8080
    health_check_interval_ms: int = 1_000
    healthy_deadline_ms: int = 60_000
    max_surge: int = 1
    max_unavailable: int = 0
    canary_steps: tuple[CanaryStep, ...] = ()
    analysis: CanaryAnalysis | None = None
    scale_down_delay_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheSpec:
    """Workspace paths restored before the script and saved after success, under ``key``."""

    key: str
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageBuildSpec:
    """A stage that builds the repository's Dockerfile and pushes the image as ``name``."""

    context: str = "."
    dockerfile: str = "Dockerfile"
    name: str
    build_args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSpec:
    """One stage of the resolved DAG snapshot that ``RunCreated.stages`` carries.

    ``variables`` already merges the pipeline's, the stage's and the matrix combination's
    (in that order of precedence, last wins); ``matrix`` is the combination alone.
    """

    name: str
    image: str = DEFAULT_IMAGE
    script: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    artifacts: ArtifactSpec | None = None
    junit_report: str | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    resources: Resources = Resources()
    when: WhenRule = WhenRule()
    priority: Priority | None = None
    allow_failure: bool = False
    deploy: DeploySpec | None = None
    matrix: Mapping[str, str] = field(default_factory=dict)
    network: bool = False
    build_image: ImageBuildSpec | None = None
    cache: CacheSpec | None = None
