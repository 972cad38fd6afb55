"""The audit trail you can query: ``GET /audit`` and ``sluice audit`` over the projection of
``sluice.audit`` (secret writes by the API and the CLI, denials, run commands)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from orchestrator.cli import main
from tests.integration.api.conftest import Deployment, Pipeline
from tests.support.waiting import eventually

VALUE = "audit-never-shows-7f3e"


def _audit(deployment: Deployment, **params: str) -> list[dict[str, Any]]:
    with deployment.client() as http:
        response = http.get("/audit", params=params)
    response.raise_for_status()
    records: list[dict[str, Any]] = response.json()
    return records


def test_a_secret_set_through_the_api_is_queryable_by_name_never_by_value(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    with deployment.client() as http:
        path = f"/pipelines/{pipeline.pipeline_id}/secrets/DB_PASSWORD"
        assert http.put(path, json={"value": VALUE}).status_code == 204
    subject = pipeline.pipeline_id
    [record] = eventually(lambda: _audit(deployment, subject=subject, action="secret.set"))
    assert (record["outcome"], record["detail"]) == ("allowed", {"name": "DB_PASSWORD"})
    assert record["actor"].startswith("token:")
    assert VALUE not in repr(_audit(deployment, subject=subject))


def test_a_request_with_an_unknown_token_is_queryable_as_denied(deployment: Deployment) -> None:
    before = _audit(deployment, actor="unknown token")
    httpx.get(f"{deployment.url}/pipelines", headers={"Authorization": "Bearer sl_bad_x"})
    records = eventually(
        lambda: [r for r in _audit(deployment, actor="unknown token") if r not in before],
        what="the denial in the audit trail",
    )
    assert [(r["outcome"], r["action"]) for r in records] == [("denied", "GET /pipelines")]
    assert "sl_bad_x" not in repr(records)


def test_the_audit_trail_needs_an_admin_token(deployment: Deployment) -> None:
    reader = deployment.token("read")
    with deployment.client(reader) as http:
        assert http.get("/audit").status_code == 403


def test_since_leaves_out_older_records(deployment: Deployment, pipeline: Pipeline) -> None:
    with deployment.client() as http:
        http.put(f"/pipelines/{pipeline.pipeline_id}/secrets/OLD", json={"value": VALUE})
    subject = pipeline.pipeline_id
    [old] = eventually(lambda: _audit(deployment, subject=subject, action="secret.set"))
    later = _audit(deployment, subject=subject, since="2999-01-01T00:00:00Z")
    assert (old["detail"], later) == ({"name": "OLD"}, [])


def test_sluice_secrets_set_appends_an_acknowledged_audit_event(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("SLUICE_TOPIC_PREFIX", "SLUICE_PG_SCHEMA", "SLUICE_SECRETS_KEY"):
        monkeypatch.setenv(name, deployment.env[name])
    monkeypatch.setenv("SLUICE_STATE_DIR", str(deployment.tmp / "state"))
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(VALUE + "\n"))
    assert main(["secrets", "set", "pipe-cli", "API_KEY"]) == 0
    subject = "secret/pipe-cli/API_KEY"
    [record] = eventually(lambda: _audit(deployment, subject=subject))
    assert (record["action"], record["actor"][:4]) == ("secret.set", "cli:")
    capsys.readouterr()
    args = ["audit", "--subject", subject, "--url", deployment.url, "--token"]
    assert main([*args, deployment.admin_token]) == 0
    out = capsys.readouterr().out
    assert "secret.set" in out and "name=API_KEY" in out
    assert VALUE not in out


def test_a_denied_path_with_a_nul_is_recorded_without_stopping_the_trail(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    httpx.get(f"{deployment.url}/pipelines/x%00y", headers={"Authorization": "Bearer sl_nul"})
    with deployment.client() as http:
        path = f"/pipelines/{pipeline.pipeline_id}/secrets/AFTER_NUL"
        assert http.put(path, json={"value": VALUE}).status_code == 204
    eventually(lambda: _audit(deployment, subject=pipeline.pipeline_id, action="secret.set"))
    denied = _audit(deployment, action="GET /pipelines/x\ufffdy")
    assert [r["outcome"] for r in denied] == ["denied"]
