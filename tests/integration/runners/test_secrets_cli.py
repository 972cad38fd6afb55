"""``sluice secrets``: values go in, never come out."""

from __future__ import annotations

import io
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from orchestrator.cli import main

VALUE = "never-shown-4b1d"


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, pg_schema: str) -> None:
    monkeypatch.setenv("SLUICE_PG_SCHEMA", pg_schema)
    monkeypatch.setenv("SLUICE_SECRETS_KEY", Fernet.generate_key().decode())


@pytest.mark.usefixtures("secrets_env")
def test_set_then_list_shows_the_name_and_never_the_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pg: psycopg.Connection[Any]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(VALUE + "\n"))
    assert main(["secrets", "set", "pipe-9", "DB_PASSWORD"]) == 0
    assert main(["secrets", "list", "pipe-9"]) == 0
    out = capsys.readouterr().out
    assert "DB_PASSWORD" in out
    assert VALUE not in out
    [(stored,)] = pg.execute("SELECT ciphertext FROM secrets").fetchall()
    assert VALUE.encode() not in bytes(stored)


@pytest.mark.usefixtures("secrets_env")
def test_deleting_a_secret_that_does_not_exist_fails_with_a_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["secrets", "delete", "pipe-9", "NOPE"]) == 1
    assert "no secret NOPE" in capsys.readouterr().err
