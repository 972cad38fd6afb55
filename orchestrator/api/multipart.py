"""``multipart/form-data`` uploads, streamed: bytes in, parts out, memory bounded.

The parsing is python-multipart's public streaming parser (``MultipartParser`` and its
callbacks); this module turns its callbacks into events the API consumes as chunks arrive:
:class:`PartStart` when a part's headers are complete, :class:`Data` for each piece of its
body. Small fields are collected by the caller, file data handed on chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError

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
        self._events: list[PartStart | Data] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = self._value = b""
        self._ended = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._headers.clear,
                "on_header_field": self._on_field,
                "on_header_value": self._on_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_data,
                "on_end": self._on_end,
            },
            max_header_size=_MAX_HEADER_BYTES,
        )

    def feed(self, chunk: bytes) -> Iterator[PartStart | Data]:
        """Events for ``chunk`` (data near a possible boundary is held back)."""
        try:
            self._parser.write(chunk)
        except FormParserError as e:
            raise MultipartError(f"malformed multipart body: {e}") from e
        events, self._events = self._events, []
        return iter(events)

    def close(self) -> None:
        """Raise unless the closing boundary was seen."""
        self._parser.finalize()
        if not self._ended:
            raise MultipartError("the multipart body ended before its closing boundary")

    def _on_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((self._field, self._value))
        self._field = self._value = b""

    def _on_headers_finished(self) -> None:
        self._events.append(_part_start(self._headers))

    def _on_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(Data(data[start:end]))

    def _on_end(self) -> None:
        self._ended = True


def _part_start(headers: list[tuple[bytes, bytes]]) -> PartStart:
    msg = Message()
    for name, value in headers:
        msg[name.decode("latin-1").strip()] = value.decode("utf-8", "replace").strip()
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
