"""An incremental ``multipart/form-data`` parser: bytes in, parts out, memory bounded.

The API streams uploads through it (python-multipart is not a dependency of Sluice): small
fields are collected, file data is handed on chunk by chunk as it arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from schemas.errors import DomainError

__all__ = ["Data", "MultipartError", "Parser", "PartStart", "boundary_of"]

_MAX_HEADER_BYTES = 16 * 1024


class MultipartError(DomainError):
    """The body is not valid multipart/form-data; send fields with ``-F name=value``."""


@dataclass(frozen=True, slots=True)
class PartStart:
    """A part begins: its form field name, and filename/content type for a file."""

    name: str
    filename: str | None
    content_type: str


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes of the current part."""

    data: bytes


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type header."""
    msg = Message()
    msg["content-type"] = content_type
    boundary = msg.get_param("boundary")
    if msg.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise MultipartError("expected Content-Type multipart/form-data with a boundary")
    return boundary.encode()


class Parser:
    """Feed chunks; get :class:`PartStart` and :class:`Data` events; ``close`` checks the end."""

    def __init__(self, boundary: bytes) -> None:
        self._first = b"--" + boundary
        self._delim = b"\r\n--" + boundary
        self._buf = b""
        self._state = "preamble"

    def feed(self, chunk: bytes) -> Iterator[PartStart | Data]:
        """Events for ``chunk`` (data near a possible boundary is held back)."""
        self._buf += chunk
        while True:
            step = getattr(self, f"_{self._state}")()
            if step is None:
                return
            if step is not True:
                yield step

    def close(self) -> None:
        """Raise unless the closing boundary was seen."""
        if self._state != "done":
            raise MultipartError("the multipart body ended before its closing boundary")

    def _preamble(self) -> bool | None:
        at = self._buf.find(self._first)
        if at < 0:
            return None
        self._buf = self._buf[at + len(self._first) :]
        self._state = "after_boundary"
        return True

    def _after_boundary(self) -> bool | None:
        if len(self._buf) < 2:
            return None
        if self._buf.startswith(b"--"):
            self._state, self._buf = "done", b""
            return None
        if not self._buf.startswith(b"\r\n"):
            raise MultipartError("malformed multipart boundary line")
        self._buf = self._buf[2:]
        self._state = "headers"
        return True

    def _headers(self) -> PartStart | None:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > _MAX_HEADER_BYTES:
                raise MultipartError("multipart part headers are too long")
            return None
        raw, self._buf = self._buf[:end].decode("utf-8", "replace"), self._buf[end + 4 :]
        self._state = "body"
        return _part_start(raw)

    def _body(self) -> Data | bool | None:
        at = self._buf.find(self._delim)
        if at >= 0:
            data, self._buf = self._buf[:at], self._buf[at + len(self._delim) :]
            self._state = "after_boundary"
            return Data(data) if data else True
        keep = len(self._delim) - 1
        if len(self._buf) <= keep:
            return None
        data, self._buf = self._buf[:-keep], self._buf[-keep:]
        return Data(data)

    def _done(self) -> None:
        self._buf = b""


def _part_start(raw: str) -> PartStart:
    msg = Message()
    for line in raw.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            msg[name.strip()] = value.strip()
    disposition = msg.get("content-disposition")
    if disposition is None:
        raise MultipartError("a multipart part has no Content-Disposition header")
    holder = Message()
    holder["content-disposition"] = disposition
    field = holder.get_param("name", header="content-disposition")
    filename = holder.get_param("filename", header="content-disposition")
    if not isinstance(field, str):
        raise MultipartError("a multipart part has no field name")
    content_type = str(msg.get("content-type") or "application/octet-stream")
    return PartStart(field, filename if isinstance(filename, str) else None, content_type)
