"""The partition loader: loads beside the poll loop, stale results dropped, outages retried."""

from __future__ import annotations

import threading

from projections.checkpoints import Loaded
from projections.partition_loader import LoadFailed, PartitionLoader
from projections.working_state import PartitionState
from schemas.eventlog import EventLogUnavailable
from tests.support.waiting import eventually


def _loaded(partition: int) -> Loaded:
    return Loaded(PartitionState(partition), 0, 0, rebuilt=True, seconds=0.0)


def _all_finished(loader: PartitionLoader, count: int) -> list[Loaded | LoadFailed]:
    done: list[Loaded | LoadFailed] = []

    def enough() -> bool:
        done.extend(loader.finished())
        return len(done) >= count

    eventually(enough, timeout=10)
    return done


def test_a_load_is_returned_once_and_leaves_nothing_pending() -> None:
    loader = PartitionLoader(_loaded, name="t")
    loader.ask(3)

    [done] = _all_finished(loader, 1)

    assert isinstance(done, Loaded) and done.state.partition == 3
    assert loader.pending == set() and loader.finished() == []
    loader.close()


def test_a_load_of_a_partition_forgotten_while_it_ran_is_dropped() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(partition: int) -> Loaded:
        started.set()
        release.wait(10)
        return _loaded(partition)

    loader = PartitionLoader(slow, name="t")
    loader.ask(1)
    started.wait(10)
    loader.forget(1)
    loader.ask(2)
    release.set()

    [done] = _all_finished(loader, 1)

    assert isinstance(done, Loaded) and done.state.partition == 2
    loader.close()


def test_only_the_newest_of_two_loads_of_one_partition_counts() -> None:
    calls: list[int] = []

    def counting(partition: int) -> Loaded:
        calls.append(partition)
        return _loaded(partition)

    loader = PartitionLoader(counting, name="t")
    loader.ask(5)
    loader.ask(5)

    done = _all_finished(loader, 1)

    assert [d.state.partition for d in done if isinstance(d, Loaded)] == [5]
    assert loader.pending == set()
    loader.close()


def test_an_outage_is_handed_back_to_be_asked_again() -> None:
    def unreachable(partition: int) -> Loaded:
        raise EventLogUnavailable("Kafka is down")

    loader = PartitionLoader(unreachable, name="t")
    loader.ask(7)

    [done] = _all_finished(loader, 1)

    assert isinstance(done, LoadFailed) and done.partition == 7
    assert "Kafka is down" in str(done.error)
    loader.close()


def test_a_bug_in_a_load_is_raised_in_the_callers_thread() -> None:
    def broken(partition: int) -> Loaded:
        raise TypeError("a bug")

    loader = PartitionLoader(broken, name="t")
    loader.ask(0)

    def raised() -> str | None:
        try:
            loader.finished()
        except TypeError as e:
            return str(e)
        return None

    assert eventually(raised, timeout=10) == "a bug"
    loader.close()
