"""The files a cache key hashes."""

from __future__ import annotations

from pathlib import Path

from runners.caches import cache_key, hash_files


def test_the_hash_follows_the_named_files_contents(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("pytest\n")
    before = hash_files(tmp_path, ["requirements.txt", "missing.txt"])
    (tmp_path / "requirements.txt").write_text("pytest\nhypothesis\n")

    assert hash_files(tmp_path, ["requirements.txt"]) != before
    assert hash_files(tmp_path, ["requirements.txt", "missing.txt"]) == hash_files(
        tmp_path, ["requirements.txt"]
    )


def test_a_file_outside_the_checkout_is_not_read(tmp_path: Path) -> None:
    assert hash_files(tmp_path, ["../../etc/hostname"]) == hash_files(tmp_path, [])


def test_a_cache_is_kept_per_pipeline_and_key() -> None:
    assert cache_key("t1.", "p-1", "pip-abc") == "t1.caches/p-1/pip-abc/cache.tar"
