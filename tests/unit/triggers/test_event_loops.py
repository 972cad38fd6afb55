"""The trigger processor's event loops: every one of them is uvloop's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import uvloop

from projections.triggers import use_uvloop


@pytest.fixture
def restored_policy() -> Iterator[None]:
    """The loop policy as it was, and the loop ``use_uvloop`` gave this thread closed."""
    policy = asyncio.get_event_loop_policy()
    yield
    asyncio.get_event_loop().close()
    asyncio.set_event_loop(None)
    asyncio.set_event_loop_policy(policy)


@pytest.mark.usefixtures("restored_policy")
def test_a_loop_made_on_another_thread_is_uvloop_as_faust_consumer_thread_makes_its_own() -> None:
    use_uvloop()
    made: list[asyncio.AbstractEventLoop] = []

    def make() -> None:  # what mode's ServiceThread does for faust's consumer thread
        made.append(asyncio.new_event_loop())

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    try:
        assert isinstance(made[0], uvloop.Loop)
    finally:
        made[0].close()


@pytest.mark.usefixtures("restored_policy")
def test_the_calling_thread_gets_a_uvloop_loop() -> None:
    use_uvloop()

    assert isinstance(asyncio.get_event_loop(), uvloop.Loop)
