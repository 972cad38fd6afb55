"""Log text on its way out of the runner: secrets masked, then cut into ordered chunks.

:class:`Masker` replaces every secret value with ``[MASKED]``, also when a value arrives
split across two writes: it holds back only a tail that could still be the start of a
secret, so text with no secret in it leaves at once. :class:`Chunker` numbers the masked
text into chunks of at most 64 KiB (UTF-8), never mixing two streams in one chunk.
Both are pure and single-threaded; :mod:`runners.logstream` adds the clock and the lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from orchestrator.domain.statuses import LogStream

__all__ = ["MASK", "MAX_CHUNK_BYTES", "Chunk", "Chunker", "Masker"]

MASK = "[MASKED]"
MAX_CHUNK_BYTES = 64 * 1024


class Masker:
    """Masks secret values in a stream of text written piece by piece."""

    def __init__(self, secrets: Iterable[str]) -> None:
        """Mask every non-empty value of ``secrets`` (longest first where they overlap)."""
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._secrets = tuple(values)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None
        self._held = ""

    def feed(self, text: str) -> str:
        """Masked text that is safe to send now; a possible secret prefix is held back."""
        if self._pattern is None:
            return text
        buf = self._held + text
        out: list[str] = []
        pos = 0
        for m in self._pattern.finditer(buf):
            stop = self._pending_from(buf, pos, m.start())
            if stop is not None:
                return self._hold(out, buf, pos, stop)
            out += (buf[pos : m.start()], MASK)
            pos = m.end()
        stop = self._pending_from(buf, pos, len(buf) - 1)
        return self._hold(out, buf, pos, len(buf) if stop is None else stop)

    def flush(self) -> str:
        """Whatever is held back, masked: call at the end of the stream."""
        held, self._held = self._held, ""
        return held if self._pattern is None else self._pattern.sub(MASK, held)

    def _hold(self, out: list[str], buf: str, pos: int, stop: int) -> str:
        self._held = buf[stop:]
        out.append(buf[pos:stop])
        return "".join(out)

    def _pending_from(self, buf: str, lo: int, hi: int) -> int | None:
        """The first index in [lo, hi] where the rest of ``buf`` could grow into a secret."""
        longest = len(self._secrets[0])
        for i in range(max(lo, len(buf) - longest + 1), hi + 1):
            rest = buf[i:]
            if any(len(s) > len(rest) and s.startswith(rest) for s in self._secrets):
                return i
        return None


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of an attempt's log, before it becomes a ``LogChunk`` record."""

    seq: int
    stream: LogStream
    data: str
    final: bool = False


class Chunker:
    """Numbers text into chunks of at most ``max_bytes`` UTF-8 bytes, one stream per chunk."""

    def __init__(self, emit: Callable[[Chunk], None], *, max_bytes: int = MAX_CHUNK_BYTES) -> None:
        """Send each finished chunk to ``emit``, in order."""
        self._emit = emit
        self._max = max_bytes
        self._seq = 0
        self._stream = LogStream.SYSTEM
        self._parts: list[str] = []
        self._size = 0

    @property
    def pending_bytes(self) -> int:
        """How many bytes wait for the next chunk."""
        return self._size

    def write(self, stream: LogStream, text: str) -> None:
        """Add ``text``; full chunks go out at once, the rest waits for :meth:`flush`."""
        if stream != self._stream:
            self.flush()
            self._stream = stream
        data = text.encode()
        while data:
            room = self._max - self._size
            piece, data = _split_utf8(data, room)
            if not piece:  # a character wider than the room left: start a new chunk
                self.flush()
                continue
            self._parts.append(piece.decode())
            self._size += len(piece)
            if self._size >= self._max:
                self.flush()

    def flush(self) -> None:
        """Send what is pending as one chunk (nothing if nothing is pending)."""
        if self._parts:
            self._send("".join(self._parts), final=False)

    def close(self) -> None:
        """Flush, then send the empty final chunk that marks the end of the log."""
        self.flush()
        self._stream = LogStream.SYSTEM
        self._send("", final=True)

    def _send(self, data: str, *, final: bool) -> None:
        chunk = Chunk(self._seq, self._stream, data, final)
        self._seq += 1
        self._parts, self._size = [], 0
        self._emit(chunk)


def _split_utf8(data: bytes, room: int) -> tuple[bytes, bytes]:
    """Cut ``data`` at most ``room`` bytes in, never inside a UTF-8 character."""
    if len(data) <= room:
        return data, b""
    cut = room
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return data[:cut], data[cut:]
