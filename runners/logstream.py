"""One attempt's log: bytes from the container in, masked chunks to Kafka and a gzip file out.

Output bytes are decoded incrementally (a UTF-8 character split across reads survives),
masked per stream, chunked, sent as ``LogChunk`` records and appended to a local gzip file
that is archived when the attempt ends. A flusher thread sends pending text every 250 ms,
so a line reaches ``sluice.logs`` within about a second of being written.
"""

from __future__ import annotations

import codecs
import gzip
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from runners.logs import Chunk, Chunker, Masker

__all__ = ["AttemptLog"]

_FLUSH_EVERY_S = 0.25


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AttemptLog:
    """The log of one stage attempt (thread-safe: the output reader and the runner write)."""

    def __init__(
        self,
        *,
        run_id: str,
        stage: str,
        attempt: int,
        secrets: Iterable[str],
        send: Callable[[LogChunk], None],
        archive: Path,
    ) -> None:
        """Mask ``secrets``; send chunks with ``send``; keep a gzip copy at ``archive``."""
        self._ids = (run_id, stage, attempt)
        self._send = send
        values = tuple(secrets)
        self._maskers = {s: Masker(values) for s in LogStream}
        self._decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in LogStream}
        self._chunker = Chunker(self._emit)
        self._archive_path = archive
        self._archive = gzip.open(archive, "wb", compresslevel=1)  # noqa: SIM115 (closed by close())
        self.lines = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="log-flush", daemon=True)
        self._flusher.start()

    @property
    def archive_path(self) -> Path:
        """The gzip file holding everything sent so far."""
        return self._archive_path

    def write(self, stream: LogStream, data: bytes) -> None:
        """Add raw output of ``stream``."""
        with self._lock:
            text = self._decoders[stream].decode(data)
            self._chunker.write(stream, self._maskers[stream].feed(text))

    def system(self, line: str) -> None:
        """Add a line from the runner itself (masked like the rest)."""
        self.write(LogStream.SYSTEM, f"[sluice] {line}\n".encode())

    def close(self) -> None:
        """Send the held-back text and the final chunk; close the archive file."""
        self._stop.set()
        self._flusher.join()
        with self._lock:
            for stream in LogStream:
                tail = self._decoders[stream].decode(b"", final=True)
                self._chunker.write(stream, self._maskers[stream].feed(tail))
                self._chunker.write(stream, self._maskers[stream].flush())
            self._chunker.close()
            self._archive.close()

    def _emit(self, chunk: Chunk) -> None:
        run_id, stage, attempt = self._ids
        self._archive.write(chunk.data.encode())
        self.lines += chunk.data.count("\n")
        record = LogChunk(
            run_id=run_id,
            stage=stage,
            attempt=attempt,
            seq=chunk.seq,
            stream=chunk.stream,
            data=chunk.data,
            final=chunk.final,
            occurred_at_ms=_now_ms(),
        )
        self._send(record)

    def _flush_loop(self) -> None:
        while not self._stop.wait(_FLUSH_EVERY_S):
            with self._lock:
                self._chunker.flush()
