"""The API's memory of a repository's branches: brief, and never the reason for a refusal."""

from __future__ import annotations

import pytest

from orchestrator.api.branches import BranchHeads, BranchMissing


class Repository:
    """Branches a test can change, counting how often they are read."""

    def __init__(self, **heads: str) -> None:
        self.heads = dict(heads)
        self.reads = 0

    def read(self, _url: str) -> dict[str, str]:
        self.reads += 1
        return dict(self.heads)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_known_branch_is_not_asked_again_within_the_ttl() -> None:
    repo, clock = Repository(main="a" * 40), Clock()
    heads = BranchHeads(ttl_s=10, read=repo.read, clock=clock)

    heads.require("url", "main")
    clock.now += 9
    heads.require("url", "main")

    assert repo.reads == 1


def test_a_branch_is_asked_again_once_the_ttl_has_passed() -> None:
    repo, clock = Repository(main="a" * 40), Clock()
    heads = BranchHeads(ttl_s=10, read=repo.read, clock=clock)

    heads.require("url", "main")
    clock.now += 11
    heads.require("url", "main")

    assert repo.reads == 2


def test_a_branch_pushed_after_the_last_read_is_found_at_once() -> None:
    repo = Repository(main="a" * 40)
    heads = BranchHeads(ttl_s=3600, read=repo.read, clock=Clock())
    heads.require("url", "main")

    repo.heads["feature"] = "b" * 40

    heads.require("url", "feature")
    assert repo.reads == 2


def test_a_branch_the_repository_does_not_have_is_refused_after_asking_it() -> None:
    repo = Repository(main="a" * 40)
    heads = BranchHeads(read=repo.read, clock=Clock())
    heads.require("url", "main")

    with pytest.raises(BranchMissing, match="no branch 'gone'"):
        heads.require("url", "gone")
    assert repo.reads == 2


def test_a_head_is_always_read_fresh() -> None:
    repo = Repository(main="a" * 40)
    heads = BranchHeads(ttl_s=3600, read=repo.read, clock=Clock())
    assert heads.head("url", "main") == "a" * 40

    repo.heads["main"] = "c" * 40

    assert heads.head("url", "main") == "c" * 40
