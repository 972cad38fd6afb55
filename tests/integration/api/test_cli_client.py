"""The ``sluice`` client commands against the API (in-process ``main``, real services)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from orchestrator.cli import main
from tests.integration.api.conftest import Deployment, Pipeline
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]


@pytest.fixture
def cli(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run ``sluice ARGS`` with the deployment's URL and admin token in the environment."""
    monkeypatch.setenv("SLUICE_API_URL", deployment.url)
    monkeypatch.setenv("SLUICE_API_TOKEN", deployment.admin_token)
    monkeypatch.setenv("HOME", str(deployment.tmp))  # no config file of the machine's user

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_trigger_json_then_status_json_show_the_run(
    cli: Callable[..., tuple[int, str, str]], pipeline: Pipeline
) -> None:
    status, out, _ = cli("trigger", pipeline.pipeline_id, "--commit", pipeline.sha, "--json")
    assert status == 0
    run_id = json.loads(out)["run_id"]
    status, out, _ = cli("status", run_id, "--json")
    assert (status, json.loads(out)["run_id"]) == (0, run_id)


def test_trigger_without_commit_builds_the_head_of_the_default_branch(
    cli: Callable[..., tuple[int, str, str]], pipeline: Pipeline
) -> None:
    status, out, _ = cli("trigger", pipeline.pipeline_id, "--var", "A=1", "--json")
    assert status == 0
    assert json.loads(out)["commit_sha"] == pipeline.sha


def test_trigger_watch_shows_the_dag_and_exits_with_the_final_status(
    cli: Callable[..., tuple[int, str, str]], deployment: Deployment, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    result: list[int] = []
    from orchestrator.cli.trigger import watch  # noqa: PLC0415
    from orchestrator.client import Client, Connection  # noqa: PLC0415

    client = Client(Connection(deployment.url, deployment.admin_token))
    thread = threading.Thread(target=lambda: result.append(watch(client, run_id)))
    thread.start()
    with deployment.client() as http:
        http.post(f"/runs/{run_id}/cancel")
    thread.join(30)
    client.close()
    assert result == [2]  # cancelled


def test_an_error_is_one_line_on_stderr_and_a_non_zero_exit(
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    status, out, err = cli("status", "no-such-run")
    assert (status, out) == (1, "")
    assert err.count("\n") == 1 and "404" in err


def test_pipelines_list_shows_the_pipeline(
    cli: Callable[..., tuple[int, str, str]], pipeline: Pipeline
) -> None:
    status, out, _ = cli("pipelines", "list")
    assert status == 0 and pipeline.pipeline_id in out


def test_pipelines_register_through_the_cli(
    cli: Callable[..., tuple[int, str, str]], pipeline: Pipeline
) -> None:
    status, out, _ = cli(
        "pipelines", "register", f"{pipeline.pipeline_id}-2", "--repo", pipeline.repo.url
    )
    assert status == 0 and "registered" in out


def test_artifacts_download_verifies_the_sha256(
    cli: Callable[..., tuple[int, str, str]],
    deployment: Deployment,
    trigger: Trigger,
    tmp_path: Path,
) -> None:
    run_id = trigger().json()["run_id"]
    data = os.urandom(50_000)
    with deployment.client() as http:
        http.post(
            f"/runs/{run_id}/artifacts",
            data={"name": "out.bin", "stage_id": "build"},
            files={"file": ("out.bin", data)},
        )
    status, out, _ = cli("artifacts", "download", run_id, "--dest", str(tmp_path))
    assert status == 0 and "verified" in out
    assert (
        hashlib.sha256((tmp_path / "out.bin").read_bytes()).digest()
        == hashlib.sha256(data).digest()
    )


def test_cancel_and_retry_through_the_cli(
    cli: Callable[..., tuple[int, str, str]], deployment: Deployment, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    assert cli("cancel", run_id)[0] == 0
    with deployment.client() as http:
        eventually(lambda: http.get(f"/runs/{run_id}").json()["status"] == "cancelled")
    status, out, _ = cli("retry", run_id, "build")
    assert status == 0 and "retry requested" in out


def test_tokens_create_and_revoke_work_directly_on_postgresql(
    cli: Callable[..., tuple[int, str, str]],
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLUICE_PG_SCHEMA", deployment.schema)
    status, out, _ = cli("tokens", "create", "--name", "bot", "--scope", "read", "--json")
    made = json.loads(out)
    with deployment.client(made["token"]) as http:
        assert http.get("/pipelines").status_code == 200
        assert cli("tokens", "revoke", made["token_id"])[0] == 0
        # the API drops its kept token when PostgreSQL's change notice reaches it, which can
        # be a few ms after the revocation commits
        eventually(
            lambda: http.get("/pipelines").status_code == 401,
            timeout=10,
            what="the revoked token to be refused",
        )
    assert status == 0


def test_gc_expires_an_artifact_past_its_retention_which_then_answers_410_and_says_so(
    cli: Callable[..., tuple[int, str, str]],
    deployment: Deployment,
    trigger: Trigger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLUICE_PG_SCHEMA", deployment.schema)
    monkeypatch.setenv("SLUICE_TOPIC_PREFIX", deployment.settings.topic_prefix)
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        made = http.post(
            f"/runs/{run_id}/artifacts",
            data={"name": "old.bin", "stage_id": "build"},
            files={"file": ("old.bin", b"old")},
        ).json()
        with deployment.connect() as conn:
            conn.execute(
                "UPDATE artifacts SET expires_at = now() - interval '1 s' WHERE artifact_id = %s",
                (made["artifact_id"],),
            )
        status, out, _ = cli("gc", "--json")
        assert http.get(f"/artifacts/{made['artifact_id']}").status_code == 410
    assert status == 0
    assert json.loads(out)["deleted"] >= 1


def test_login_checks_the_token_and_stores_it_for_later_commands(
    deployment: Deployment,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    config = tmp_path / "sluice" / "config.toml"
    monkeypatch.setenv("SLUICE_CONFIG", str(config))
    monkeypatch.delenv("SLUICE_API_TOKEN", raising=False)
    monkeypatch.delenv("SLUICE_API_URL", raising=False)
    assert main(["login", "--url", deployment.url, "--token", "sl_bad_bad"]) == 1
    assert not config.exists()
    assert main(["login", "--url", deployment.url, "--token", deployment.admin_token]) == 0
    assert config.stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    assert main(["pipelines", "list", "--json"]) == 0
    assert pipeline.pipeline_id in capsys.readouterr().out
