"""The load generator the deployment tests judge by: its file holds every answer it counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.deployapp import start_load


class _Versioned(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("X-Version", "v7")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Versioned)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_a_stopped_load_has_written_every_answer_it_counted(server: str, tmp_path: Path) -> None:
    # Stopped by SIGTERM with requests in flight, as the deployment tests stop it.
    load = start_load(server, rate=400, seconds=60, answers=tmp_path / "answers")
    time.sleep(1.5)
    summary = load.finish(tail_s=0)

    lines = load.lines()
    assert summary["total"] > 100 and len(lines) == summary["total"]
    assert {version for _, _, version in lines} == {"v7"}
