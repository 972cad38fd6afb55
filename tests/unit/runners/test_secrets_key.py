"""The secrets key is made once, on purpose, on the first host; a host without it stops."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from runners.errors import SecretStoreError
from runners.secrets import SecretKeyMissing, init_key, key_path, load_key


def test_a_host_without_a_key_stops_with_what_to_do_and_makes_none(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyMissing, match="sluice secrets init-key"):
        load_key(env_key=None, state_dir=tmp_path)
    assert not key_path(tmp_path).exists()


def test_the_first_host_makes_the_key_that_every_load_then_returns(tmp_path: Path) -> None:
    path = init_key(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    key = load_key(env_key=None, state_dir=tmp_path)
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"
    assert load_key(env_key=None, state_dir=tmp_path) == key


def test_making_a_second_key_over_the_first_is_refused(tmp_path: Path) -> None:
    first = init_key(tmp_path).read_bytes()
    with pytest.raises(SecretStoreError, match="already holds a secrets key"):
        init_key(tmp_path)
    assert key_path(tmp_path).read_bytes() == first


def test_the_key_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    init_key(tmp_path)
    env_key = Fernet.generate_key().decode()
    assert load_key(env_key=env_key, state_dir=tmp_path) == env_key.encode()
