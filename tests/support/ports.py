"""Free TCP ports for the services a test starts."""

from __future__ import annotations

import socket
from contextlib import ExitStack

__all__ = ["free_port", "free_ports"]


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports nothing listens on right now.

    All are held while chosen: asked one at a time, the kernel may hand out a port again
    before the first caller binds it, and two servers of one test then share one port (the
    likeliest cause of a CI failure where a decider's /metrics showed another process's)."""
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    return free_ports(1)[0]
