"""Secrets: encrypted at rest in PostgreSQL, scoped per pipeline (and environment).

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``). The key
comes from ``SLUICE_SECRETS_KEY`` or from ``<state dir>/secrets.key``; it is never stored in
the database or the repository. The key is made once, on purpose, on the first host:
``sluice secrets init-key`` (:func:`init_key`) writes the file with mode 0600; every other
host gets the same key (the file copied, or ``SLUICE_SECRETS_KEY``). A process that finds no
key stops with :class:`SecretKeyMissing`: it never makes a key of its own, which would
silently encrypt and decrypt with a different key than the other hosts. A stage's secrets are
read only at run time, only those it names, and only ever reach its container's environment.
A value set for an environment overrides the pipeline-wide one ('' environment).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet, InvalidToken

from runners.errors import SecretNotFound, SecretStoreError
from schemas.pg import DatabaseUnavailable, connect

__all__ = ["SecretInfo", "SecretKeyMissing", "SecretStore", "init_key", "key_path", "load_key"]


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What ``sluice secrets list`` shows: never the value."""

    name: str
    environment: str
    created_at: datetime
    updated_at: datetime


class SecretKeyMissing(SecretStoreError):
    """No secrets key on this host: never made here, so never guessed here."""


def key_path(state_dir: Path) -> Path:
    """Where the secrets key file of ``state_dir`` lives."""
    return state_dir / "secrets.key"


def load_key(*, env_key: str | None, state_dir: Path) -> bytes:
    """The Fernet key: ``env_key`` if given, else the key file; never a new one."""
    if env_key:
        return env_key.encode()
    path = key_path(state_dir)
    try:
        return path.read_bytes().strip()
    except FileNotFoundError as e:
        raise SecretKeyMissing(
            f"no secrets key at {path} and SLUICE_SECRETS_KEY is not set: on the first host"
            " run `sluice secrets init-key` once; on every other host copy that file (or set"
            " SLUICE_SECRETS_KEY to its content), so all hosts share one key"
        ) from e
    except OSError as e:
        raise SecretStoreError(f"cannot read the secrets key {path}: {e}") from e


def init_key(state_dir: Path) -> Path:
    """Make this deployment's secrets key in ``state_dir`` (mode 0600): the first host only.

    Refuses if a key file is already there (a second key would make the secrets encrypted
    with the first unreadable). Returns the file's path.
    """
    path = key_path(state_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise SecretStoreError(f"{path} already holds a secrets key; keep it") from e
    except OSError as e:
        raise SecretStoreError(f"cannot create the secrets key {path}: {e}") from e
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key())
    return path


class SecretStore:
    """Encrypted secrets in the ``secrets`` table of ``schema``."""

    def __init__(self, *, dsn: str, key: bytes, schema: str = "public") -> None:
        """Use the database at ``dsn``; ``key`` is a Fernet key (see :func:`load_key`)."""
        self._dsn = dsn
        self._schema = schema
        try:
            self._fernet = Fernet(key)
        except ValueError as e:
            raise SecretStoreError(
                "the secrets key is not a valid Fernet key (32 url-safe base64 bytes); "
                "fix SLUICE_SECRETS_KEY or the key file"
            ) from e

    def set(self, pipeline_id: str, name: str, value: str, *, environment: str = "") -> None:
        """Store (or replace) a secret's value, encrypted."""
        token = self._fernet.encrypt(value.encode())
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO secrets (pipeline_id, environment, name, ciphertext)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (pipeline_id, environment, name)"
                " DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()",
                (pipeline_id, environment, name, token),
            )

    def delete(self, pipeline_id: str, name: str, *, environment: str = "") -> bool:
        """Delete a secret; False when there was none."""
        with self._connect() as conn:
            cur = conn.execute(
                "DELETE FROM secrets WHERE pipeline_id = %s AND environment = %s AND name = %s",
                (pipeline_id, environment, name),
            )
            return cur.rowcount > 0

    def list_secrets(self, pipeline_id: str) -> list[SecretInfo]:
        """Names and dates of a pipeline's secrets (never values), by name."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT name, environment, created_at, updated_at FROM secrets"
                " WHERE pipeline_id = %s ORDER BY name, environment",
                (pipeline_id,),
            ).fetchall()
        return [SecretInfo(*row) for row in rows]

    def resolve(
        self, pipeline_id: str, names: Sequence[str], *, environment: str = ""
    ) -> dict[str, str]:
        """The plain values of ``names`` for a stage; raises SecretNotFound for a missing one."""
        if not names:
            return {}
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT name, environment, ciphertext FROM secrets WHERE pipeline_id = %s"
                " AND name = ANY(%s) AND environment IN ('', %s) ORDER BY environment",
                (pipeline_id, list(names), environment),
            ).fetchall()
        found = {name: self._decrypt(name, token) for name, _env, token in rows}  # env wins
        missing = sorted(set(names) - found.keys())
        if missing:
            raise SecretNotFound(
                f"secret(s) {', '.join(missing)} not set for pipeline {pipeline_id!r}; "
                "set them with `sluice secrets set`"
            )
        return found

    def _decrypt(self, name: str, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode()
        except InvalidToken as e:
            raise SecretStoreError(
                f"secret {name!r} cannot be decrypted with this key: was it set with another "
                "SLUICE_SECRETS_KEY or key file?"
            ) from e

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with connect(
                self._dsn, schema=self._schema, name="sluice-secrets", autocommit=False
            ) as conn:
                yield conn
        except (psycopg.Error, DatabaseUnavailable) as e:
            raise SecretStoreError(f"the secret store (PostgreSQL) failed: {e}") from e
