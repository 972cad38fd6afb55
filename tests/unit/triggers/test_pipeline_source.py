"""Reading a pipeline file at one commit from a cached mirror of a real git repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from projections.pipeline_source import (
    MissingPipelineFile,
    PipelineSource,
    UnknownCommit,
    UnknownRepository,
)
from tests.unit.triggers.gitrepos import GitRepo


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


@pytest.fixture
def source(tmp_path: Path) -> PipelineSource:
    return PipelineSource(cache_dir=tmp_path / "cache", timeout_s=30)


def test_reads_the_file_as_it_was_at_that_commit(repo: GitRepo, source: PipelineSource) -> None:
    first = repo.commit({"pipeline.yaml": "name: one\n"})
    repo.commit({"pipeline.yaml": "name: two\n"})
    assert source.read(repo.url, first, "pipeline.yaml") == "name: one\n"


def test_a_commit_pushed_after_the_mirror_was_made_is_fetched(
    repo: GitRepo, source: PipelineSource
) -> None:
    source.read(repo.url, repo.commit({"pipeline.yaml": "name: one\n"}), "pipeline.yaml")
    later = repo.commit({"ci/other.yaml": "name: later\n"}, branch="feature/x")
    assert source.read(repo.url, later, "ci/other.yaml") == "name: later\n"


def test_one_mirror_serves_every_read_of_a_repository(
    repo: GitRepo, source: PipelineSource, tmp_path: Path
) -> None:
    sha = repo.commit({"pipeline.yaml": "name: one\n"})
    source.read(repo.url, sha, "pipeline.yaml")
    source.read(repo.url, sha, "pipeline.yaml")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [source.mirror_path(repo.url).name]


def test_an_unknown_commit_is_a_typed_error(repo: GitRepo, source: PipelineSource) -> None:
    repo.commit({"pipeline.yaml": "name: one\n"})
    with pytest.raises(UnknownCommit, match="was it pushed"):
        source.read(repo.url, "0" * 40, "pipeline.yaml")


def test_a_missing_file_is_a_typed_error(repo: GitRepo, source: PipelineSource) -> None:
    sha = repo.commit({"README": "hello\n"})
    with pytest.raises(MissingPipelineFile, match=r"no pipeline\.yaml at"):
        source.read(repo.url, sha, "pipeline.yaml")


def test_an_unknown_repository_is_a_typed_error(source: PipelineSource, tmp_path: Path) -> None:
    with pytest.raises(UnknownRepository, match="repo_url"):
        source.read((tmp_path / "nowhere.git").as_uri(), "a" * 40, "pipeline.yaml")


@pytest.mark.parametrize("sha", ["--upload-pack=evil", "HEAD", "a" * 3, "main~1"])
def test_a_sha_that_is_not_hex_is_refused_before_git_runs(
    repo: GitRepo, source: PipelineSource, sha: str
) -> None:
    with pytest.raises(UnknownCommit, match="not a commit SHA"):
        source.read(repo.url, sha, "pipeline.yaml")
    assert not source.mirror_path(repo.url).exists()


@pytest.mark.parametrize("path", ["../etc/passwd", "/pipeline.yaml", ""])
def test_a_path_outside_the_repository_is_refused(
    repo: GitRepo, source: PipelineSource, path: str
) -> None:
    sha = repo.commit({"pipeline.yaml": "name: one\n"})
    with pytest.raises(MissingPipelineFile, match="not a path inside"):
        source.read(repo.url, sha, path)


def test_credentials_in_the_url_never_reach_the_error(source: PipelineSource) -> None:
    with pytest.raises(UnknownRepository) as caught:
        source.read("file://ada:s3cret@/nonexistent/x.git", "a" * 40, "pipeline.yaml")
    assert "s3cret" not in str(caught.value)


def test_a_file_read_at_a_full_commit_is_remembered_without_asking_git_again(
    repo: GitRepo, source: PipelineSource
) -> None:
    sha = repo.commit({"pipeline.yaml": "name: one\n"})
    source.read(repo.url, sha, "pipeline.yaml")
    shutil.rmtree(source.mirror_path(repo.url))
    assert source.read(repo.url, sha.upper(), "pipeline.yaml") == "name: one\n"
    assert not source.mirror_path(repo.url).exists()


def test_a_file_read_at_an_abbreviated_commit_is_asked_of_git_every_time(
    repo: GitRepo, source: PipelineSource
) -> None:
    sha = repo.commit({"pipeline.yaml": "name: one\n"})
    source.read(repo.url, sha[:10], "pipeline.yaml")
    shutil.rmtree(source.mirror_path(repo.url))
    assert source.read(repo.url, sha[:10], "pipeline.yaml") == "name: one\n"
    assert source.mirror_path(repo.url).exists()


def test_only_a_file_read_before_at_a_full_commit_is_remembered_with_no_io(
    repo: GitRepo, source: PipelineSource
) -> None:
    sha = repo.commit({"pipeline.yaml": "name: one\n"})
    assert source.remembered(repo.url, sha, "pipeline.yaml") is None
    source.read(repo.url, sha, "pipeline.yaml")
    source.read(repo.url, sha[:10], "pipeline.yaml")
    assert source.remembered(repo.url, sha.upper(), "pipeline.yaml") == "name: one\n"
    assert source.remembered(repo.url, sha[:10], "pipeline.yaml") is None
