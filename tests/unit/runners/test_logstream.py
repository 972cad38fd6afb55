"""An attempt's log leaves the runner soon after it is written, and ends with a final chunk."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from runners.logs import MASK
from runners.logstream import AttemptLog
from tests.support.waiting import eventually


def open_log(tmp_path: Path, sent: list[LogChunk]) -> AttemptLog:
    lock = threading.Lock()

    def send(chunk: LogChunk) -> None:
        with lock:
            sent.append(chunk)

    return AttemptLog(
        run_id="r", stage="s", attempt=1, secrets=["pa55word"], send=send, archive=tmp_path / "l.gz"
    )


def test_a_written_line_is_sent_within_a_second_without_waiting_for_more(tmp_path: Path) -> None:
    sent: list[LogChunk] = []
    log = open_log(tmp_path, sent)
    log.write(LogStream.STDOUT, b"compiling\n")
    eventually(lambda: sent, timeout=2.0, what="the first chunk")  # flushed every 250 ms
    log.close()
    assert sent[0].data == "compiling\n"


def test_closing_sends_the_held_back_text_then_an_empty_final_chunk(tmp_path: Path) -> None:
    sent: list[LogChunk] = []
    log = open_log(tmp_path, sent)
    log.write(LogStream.STDOUT, b"password: pa55")
    log.close()
    assert [(c.data, c.final) for c in sent][-1] == ("", True)
    assert "".join(c.data for c in sent) == "password: pa55"


def test_the_archive_holds_the_masked_text_and_lines_are_counted(tmp_path: Path) -> None:
    sent: list[LogChunk] = []
    log = open_log(tmp_path, sent)
    log.write(LogStream.STDERR, "the pa55word is \xe2\x9c".encode("latin-1"))
    log.write(LogStream.STDERR, b"\x93 set\nok\n")
    log.close()
    assert (
        gzip.decompress((tmp_path / "l.gz").read_bytes()).decode() == f"the {MASK} is ✓ set\nok\n"
    )
    assert log.lines == 2
