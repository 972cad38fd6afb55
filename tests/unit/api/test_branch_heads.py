"""The API's memory of a repository's branches: brief, and never the reason for a refusal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from orchestrator.api.branches import BranchHeads, BranchMissing, BranchUnknown


class Repository:
    """Branches a test can change, counting how often they are read."""

    def __init__(self, **heads: str) -> None:
        self.heads = dict(heads)
        self.reads = 0

    def read(self, _url: str) -> dict[str, str]:
        self.reads += 1
        return dict(self.heads)


class SlowRepository(Repository):
    """A repository whose reads wait until the test lets them finish."""

    def __init__(self, **heads: str) -> None:
        super().__init__(**heads)
        self.reading = threading.Event()
        self.finish = threading.Event()
        self.fail = False

    def read(self, url: str) -> dict[str, str]:
        heads = super().read(url)
        self.reading.set()
        assert self.finish.wait(10), "the test never let the read finish"
        if self.fail:
            raise BranchUnknown("cannot read the branches of the repository: unreachable")
        return heads


def started(
    threads: ThreadPoolExecutor, count: int, call: Callable[[], None]
) -> list[Future[None]]:
    return [threads.submit(call) for _ in range(count)]


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


def test_callers_arriving_while_the_memory_is_stale_share_one_read() -> None:
    repo, clock = SlowRepository(main="a" * 40), Clock()
    heads = BranchHeads(ttl_s=10, read=repo.read, clock=clock)
    repo.finish.set()
    heads.require("url", "main")
    repo.finish.clear()
    clock.now += 11

    with ThreadPoolExecutor(16) as threads:
        calls = started(threads, 16, lambda: heads.require("url", "main"))
        assert repo.reading.wait(10)
        repo.finish.set()
        for call in calls:
            call.result(10)

    assert repo.reads == 2


def test_a_branch_not_known_waits_for_a_read_begun_after_its_request() -> None:
    repo, clock = SlowRepository(main="a" * 40), Clock()
    heads = BranchHeads(ttl_s=10, read=repo.read, clock=clock)
    with ThreadPoolExecutor(2) as threads:
        first = threads.submit(heads.require, "url", "main")
        assert repo.reading.wait(10)  # a read begun before the push below
        clock.now += 1
        repo.heads["feature"] = "b" * 40

        second = threads.submit(heads.require, "url", "feature")
        repo.finish.set()
        first.result(10)
        second.result(10)  # found: it did not take the older read's answer

    assert repo.reads == 2


def test_a_read_that_fails_fails_every_caller_waiting_for_it() -> None:
    repo = SlowRepository(main="a" * 40)
    repo.fail = True
    heads = BranchHeads(read=repo.read, clock=Clock())
    with ThreadPoolExecutor(4) as threads:
        calls = started(threads, 4, lambda: heads.require("url", "main"))
        assert repo.reading.wait(10)
        repo.finish.set()
        for call in calls:
            with pytest.raises(BranchUnknown, match="unreachable"):
                call.result(10)


def test_a_branch_read_within_the_ttl_is_remembered_without_asking() -> None:
    repo, clock = Repository(main="a" * 40), Clock()
    heads = BranchHeads(ttl_s=10, read=repo.read, clock=clock)

    assert not heads.remembered("url", "main")  # never read: the caller must ask
    heads.require("url", "main")
    clock.now += 9
    assert heads.remembered("url", "main")
    assert not heads.remembered("url", "feature")  # not in the read: the caller must ask
    clock.now += 2
    assert not heads.remembered("url", "main")  # the read is too old
    assert repo.reads == 1
