"""What an attempt's container starts with: environment, secrets (audited), upstream
artifacts, and the container spec built from the job's ``StageSpec``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orchestrator.domain.jobs import Job
from orchestrator.domain.records import AuditEvent
from runners.artifacts import ArtifactStore, artifact_key
from runners.config import RunnerConfig
from runners.errors import SecretNotFound
from runners.executor import ContainerSpec
from runners.reaper import ATTEMPT_LABEL, RUN_LABEL, STAGE_LABEL
from runners.secrets import SecretStore
from runners.workspace import Workspace

__all__ = [
    "AuditContext",
    "base_env",
    "container_spec",
    "fetch_upstream",
    "needs_network",
    "read_secrets",
    "secret_environment",
]

_TRUE = {"1", "true", "yes", "on"}
_SECRET_REF = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who reads secrets, and where audit events go."""

    actor: str
    send: Callable[[AuditEvent], None]
    now_ms: Callable[[], int]


def secret_environment(job: Job) -> str:
    """The environment whose secrets override the pipeline's ('' when not a deploy stage)."""
    return job.stage.deploy.environment if job.stage.deploy is not None else ""


def read_secrets(job: Job, store: SecretStore, audit: AuditContext) -> dict[str, str]:
    """The values of the secrets the stage names; every read goes to ``sluice.audit``."""
    names = list(job.stage.secrets)
    if not names:
        return {}
    environment = secret_environment(job)
    try:
        values = store.resolve(job.pipeline_id, names, environment=environment)
    except SecretNotFound as e:
        _audit(job, names, "denied", audit, str(e))
        raise
    _audit(job, names, "allowed", audit, "")
    return values


def _audit(job: Job, names: list[str], outcome: str, audit: AuditContext, why: str) -> None:
    for name in names:
        detail = {"run_id": job.run_id, "stage": job.stage.name, "attempt": str(job.attempt)}
        if why:
            detail["reason"] = why
        audit.send(
            AuditEvent(
                audit_id=str(uuid.uuid4()),
                subject=f"secret/{job.pipeline_id}/{name}",
                action="secret.read",
                actor=audit.actor,
                pipeline_id=job.pipeline_id,
                outcome=outcome,
                detail=detail,
                occurred_at_ms=audit.now_ms(),
            )
        )


def base_env(job: Job) -> dict[str, str]:
    """Stage variables, then run variables, then the ``SLUICE_*``/``CI`` ones (last wins)."""
    return {
        **job.stage.variables,
        **job.variables,
        "CI": "true",
        "HOME": "/tmp",
        "SLUICE_PIPELINE_ID": job.pipeline_id,
        "SLUICE_RUN_ID": job.run_id,
        "SLUICE_STAGE": job.stage.name,
        "SLUICE_ATTEMPT": str(job.attempt),
        "SLUICE_BRANCH": job.branch,
        "SLUICE_COMMIT_SHA": job.commit_sha,
    }


def needs_network(job: Job) -> bool:
    """Stages with ``network: true`` and deploy stages get a network.

    ``SLUICE_NETWORK: "true"`` (the variable that came before the key) still works; the
    runner's log says it is deprecated (:func:`deprecated_network_variable`).
    """
    return job.stage.network or deprecated_network_variable(job) or job.stage.deploy is not None


def deprecated_network_variable(job: Job) -> bool:
    """Whether the stage asks for a network with the old ``SLUICE_NETWORK`` variable."""
    return job.stage.variables.get("SLUICE_NETWORK", "").lower() in _TRUE


def build_args(args: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """Build args with ``${{ secrets.NAME }}`` replaced by the stage's declared secrets."""
    return {k: _SECRET_REF.sub(lambda m: secrets.get(m.group(1), ""), v) for k, v in args.items()}


def container_spec(
    job: Job, *, image: str, ws: Workspace, env: Mapping[str, str], config: RunnerConfig
) -> ContainerSpec:
    """The container of ``job``: its script, environment, mounts and limits."""
    return ContainerSpec(
        image=image,
        script="\n".join(job.stage.script) or "true",
        env=env,
        src=ws.src,
        work=ws.work,
        user=config.container_user,
        cpus=job.stage.resources.cpus,
        memory_bytes=job.stage.resources.memory_bytes,
        pids_limit=config.pids_limit,
        network=needs_network(job),
        labels={
            "sluice.job": job.job_id,
            RUN_LABEL: job.run_id,
            STAGE_LABEL: job.stage.name,
            ATTEMPT_LABEL: str(job.attempt),
        },
    )


def fetch_upstream(job: Job, store: ArtifactStore, ws: Workspace, *, key_prefix: str) -> list[str]:
    """Unpack the artifacts of the stages ``job`` may use into its workspace; their names."""
    fetched = []
    for stage in job.upstream_stages:
        prefix = artifact_key(key_prefix, job.run_id, stage, 0).rsplit("/", 2)[0] + "/"
        if store.download_latest(key_prefix=prefix, dest=ws.work):
            fetched.append(stage)
    return fetched
