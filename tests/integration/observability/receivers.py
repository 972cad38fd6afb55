"""Real receivers for notification tests: an HTTP server (webhooks, Slack) and an SMTP server."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import free_port

__all__ = ["HttpReceiver", "Received", "SmtpReceiver"]


@dataclass(frozen=True)
class Received:
    """One request the HTTP receiver accepted."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """An HTTP server on ``port`` that records every POST and answers 204; start/stop at will
    (stopping it is the receiver being down)."""

    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on a free port that keeps every message; with
    ``login``, it refuses mail from a client that did not log in with it."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self._inbox = _Inbox()
        self._login = login
        auth: dict[str, Any] = {}
        if login is not None:
            auth = {"authenticator": self._check, "auth_required": True, "auth_require_tls": False}
        self._controller = Controller(self._inbox, hostname="127.0.0.1", port=self.port, **auth)

    def _check(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415

        assert self._login is not None
        ok = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self._login
        )
        return AuthResult(success=ok, handled=False)

    @property
    def messages(self) -> list[Message]:
        return self._inbox.messages

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
