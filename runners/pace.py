"""How long the runner's loop pauses between turns: 5 ms while there is work, doubling up to
50 ms while there is none.

The loop polls because it must: confluent-kafka cannot wake a waiting thread when a message
arrives (librdkafka's ``io_event_enable`` is not exposed in Python). At a fixed 5 ms, 50 idle
runner processes made 10,000 turns a second between them and starved the broker of CPU on a
2-core machine; backing off while idle makes that 1,000, and adds at most 50 ms to noticing
the first job after a quiet spell (any turn that did something goes back to 5 ms, and an
attempt that ends wakes the loop at once, so a freed slot is filled without waiting).
"""

from __future__ import annotations

__all__ = ["BUSY_PAUSE_S", "IDLE_PAUSE_S", "next_pause"]

BUSY_PAUSE_S = 0.005
IDLE_PAUSE_S = 0.05


def next_pause(previous_s: float, *, worked: bool) -> float:
    """The pause after a turn: the shortest after a turn that did something, else twice the
    last one, never longer than :data:`IDLE_PAUSE_S`."""
    if worked:
        return BUSY_PAUSE_S
    return min(IDLE_PAUSE_S, max(BUSY_PAUSE_S, previous_s * 2))
