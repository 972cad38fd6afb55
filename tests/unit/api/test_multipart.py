"""The incremental multipart/form-data parser."""

from __future__ import annotations

import pytest

from orchestrator.api.multipart import Data, MultipartError, Parser, PartStart, boundary_of

BODY = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="name"\r\n\r\n'
    b"report\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\n"
    b"hello\r\n--X not a boundary\r\nworld\r\n"
    b"--XyZ--\r\n"
)


def _parse(body: bytes, size: int) -> list[PartStart | Data]:
    parser = Parser(b"XyZ")
    events = [e for i in range(0, len(body), size) for e in parser.feed(body[i : i + size])]
    parser.close()
    return events


def _parts(events: list[PartStart | Data]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    current = ""
    for event in events:
        if isinstance(event, PartStart):
            current = event.name
            out[current] = b""
        else:
            out[current] += event.data
    return out


@pytest.mark.parametrize("size", [1, 2, 7, 64, 10_000])
def test_parts_come_out_whole_whatever_the_chunk_size(size: int) -> None:
    parts = _parts(_parse(BODY, size))
    assert parts == {"name": b"report", "file": b"hello\r\n--X not a boundary\r\nworld"}


def test_a_file_part_carries_its_filename_and_content_type() -> None:
    starts = [e for e in _parse(BODY, 100) if isinstance(e, PartStart)]
    assert starts[1] == PartStart("file", "a.txt", "text/plain")


def test_a_body_without_its_closing_boundary_is_an_error() -> None:
    parser = Parser(b"XyZ")
    list(parser.feed(BODY[:-10]))
    with pytest.raises(MultipartError, match="closing boundary"):
        parser.close()


def test_the_boundary_comes_from_the_content_type() -> None:
    assert boundary_of('multipart/form-data; boundary="abc"') == b"abc"


def test_a_content_type_that_is_not_multipart_is_an_error() -> None:
    with pytest.raises(MultipartError):
        boundary_of("application/json")
