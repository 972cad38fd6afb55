"""decide and evolve: retention's ArtifactExpired and LogExpired, recorded once, for what exists."""

from __future__ import annotations

from orchestrator.domain import ArtifactExpired, ArtifactStored, LogArchived, LogExpired
from tests.unit.domain.domain_helpers import Driver, artifact_stored, spec


def _stored(run: Driver) -> ArtifactStored:
    stored = artifact_stored(run)
    assert run.send(stored).accepted
    return stored


def _expired(run: Driver, artifact_id: str = "art-1") -> ArtifactExpired:
    return ArtifactExpired(
        run_id="run-1", occurred_at_ms=run.tick(), stage="a", attempt=1, artifact_id=artifact_id
    )


def test_an_expired_artifact_is_recorded_once_and_stays_listed() -> None:
    run = Driver([spec("a")])
    stored = _stored(run)
    expired = _expired(run)
    assert run.send(expired).events == (expired,)
    assert run.run.stage("a").artifacts == (stored,)
    assert run.run.stage("a").expired_artifacts == (expired,)
    assert run.send(expired).ignored_reason == "duplicate: artifact art-1 already expired"


def test_expiring_an_artifact_never_stored_is_ignored() -> None:
    run = Driver([spec("a")])
    _stored(run)
    decision = run.send(_expired(run, "art-2"))
    assert decision.ignored_reason == "stage 'a' has no artifact art-2"


def test_an_expired_log_is_recorded_once_for_an_archived_log() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    archived = LogArchived(
        run_id="run-1",
        occurred_at_ms=run.tick(),
        stage="a",
        attempt=1,
        storage_path="logs/a.log",
        size_bytes=1,
        lines=1,
    )
    assert run.send(archived).accepted
    expired = LogExpired(
        run_id="run-1", occurred_at_ms=run.tick(), stage="a", attempt=1, storage_path="logs/a.log"
    )
    assert run.send(expired).events == (expired,)
    assert run.run.stage("a").expired_logs == (expired,)
    assert run.send(expired).ignored_reason == "duplicate: log logs/a.log already expired"
