"""Cutting an attempt's chunks into numbered lines: the lines are those of the joined text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.log_lines import Tail, cut_lines

pieces = st.lists(st.text(alphabet="ab\n", max_size=12), max_size=8)


def _fold(chunks: list[str], *, final: bool) -> tuple[list[tuple[int, str]], Tail]:
    tail, numbered = Tail(), []
    for i, data in enumerate(chunks):
        first = tail.next_line
        done, tail = cut_lines(tail, data, final=final and i == len(chunks) - 1)
        numbered += list(enumerate(done, start=first))
    return numbered, tail


@given(pieces)
def test_lines_cut_chunk_by_chunk_are_the_lines_of_the_joined_text(chunks: list[str]) -> None:
    numbered, tail = _fold(chunks, final=False)
    text = "".join(chunks)
    assert [line for _, line in numbered] + [tail.partial] == text.split("\n")
    assert [n for n, _ in numbered] == list(range(1, len(numbered) + 1))


@given(pieces.filter(bool))
def test_the_final_chunk_ends_the_last_unfinished_line(chunks: list[str]) -> None:
    numbered, tail = _fold(chunks, final=True)
    assert tail.partial == ""
    assert "\n".join(line for _, line in numbered) == "".join(chunks).removesuffix("\n")


def test_a_carriage_return_before_the_newline_is_not_part_of_the_line() -> None:
    assert cut_lines(Tail(), "one\r\ntwo", final=False) == (["one"], Tail(2, "two"))
