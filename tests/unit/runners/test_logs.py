"""Masking and chunking of log text: secrets never leave, chunks stay ordered and small."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.statuses import LogStream
from runners.logs import MASK, Chunk, Chunker, Masker


def feed_all(masker: Masker, pieces: list[str]) -> str:
    return "".join(masker.feed(p) for p in pieces) + masker.flush()


def test_a_secret_in_one_write_is_masked() -> None:
    assert feed_all(Masker(["hunter2"]), ["password is hunter2\n"]) == f"password is {MASK}\n"


def test_a_secret_split_across_writes_is_masked() -> None:
    assert feed_all(Masker(["hunter2"]), ["pass: hun", "te", "r2 ok"]) == f"pass: {MASK} ok"


def test_text_with_no_secret_prefix_is_not_held_back() -> None:
    assert Masker(["hunter2"]).feed("hello world") == "hello world"


def test_only_a_possible_secret_prefix_is_held_back() -> None:
    masker = Masker(["hunter2"])
    assert masker.feed("abc hun") == "abc "
    assert masker.feed("gry") == "hungry"


def test_the_longer_of_two_overlapping_secrets_is_masked_whole() -> None:
    assert feed_all(Masker(["abc", "abcdef"]), ["x abcd", "ef y"]) == f"x {MASK} y"


@given(
    secret=st.text(alphabet="abc", min_size=3, max_size=8),
    before=st.text(alphabet="abcx ", max_size=20),
    after=st.text(alphabet="abcx ", max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6),
)
def test_no_way_of_cutting_the_text_lets_a_secret_through(
    secret: str, before: str, after: str, cuts: list[int]
) -> None:
    text = before + secret + after
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    assert secret not in feed_all(Masker([secret]), pieces)


def collect() -> tuple[list[Chunk], Chunker]:
    chunks: list[Chunk] = []
    return chunks, Chunker(chunks.append, max_bytes=10)


def test_chunks_are_numbered_in_order_and_capped_in_bytes() -> None:
    chunks, chunker = collect()
    chunker.write(LogStream.STDOUT, "a" * 25)
    chunker.close()
    assert [c.seq for c in chunks] == [0, 1, 2, 3]
    assert [len(c.data.encode()) for c in chunks] == [10, 10, 5, 0]
    assert chunks[-1].final


def test_a_multibyte_character_is_never_cut() -> None:
    chunks, chunker = collect()
    chunker.write(LogStream.STDOUT, "é" * 7)
    chunker.flush()
    assert [c.data for c in chunks] == ["é" * 5, "éé"]


def test_a_chunk_never_mixes_two_streams() -> None:
    chunks, chunker = collect()
    chunker.write(LogStream.STDOUT, "out")
    chunker.write(LogStream.STDERR, "err")
    chunker.flush()
    assert [(c.stream, c.data) for c in chunks] == [
        (LogStream.STDOUT, "out"),
        (LogStream.STDERR, "err"),
    ]
