"""Which runner of ``sluice processor projection`` runs which read model."""

from __future__ import annotations

from collections import Counter
from typing import cast

import pytest

from orchestrator.wire import decode_record
from projections.dead_letters import DEAD_LETTERS, write_one
from projections.log_lines import LOG_LINES
from projections.registry import REGISTERED, RUNNERS
from schemas.codec import default_codec
from schemas.examples import example_of
from schemas.pg import Conn
from schemas.topics import RUNS, TESTS, topic_by_name


def test_every_topic_of_every_registered_read_model_is_read_by_exactly_one_runner() -> None:
    reads = Counter((p.name, t) for group in RUNNERS for p in group for t in p.topics)

    assert reads == Counter((p.name, t) for p in REGISTERED for t in p.topics)
    assert set(reads.values()) == {1}


def test_a_read_model_split_between_runners_keeps_its_handler_and_records() -> None:
    parts = [p for group in RUNNERS for p in group if p not in REGISTERED]
    whole = {p.name: p for p in REGISTERED}

    assert parts  # the log lines: sluice.logs on a runner of its own
    for part in parts:
        assert (part.handler, part.records) == (whole[part.name].handler, whole[part.name].records)
        assert part.label != whole[part.name].label  # its metrics apart from the other part's


def test_a_part_of_a_read_model_reads_only_topics_the_read_model_reads() -> None:
    with pytest.raises(ValueError, match="log_lines"):
        LOG_LINES.part(TESTS.name)


def test_the_read_models_a_runner_shares_all_read_its_first_one_s_main_topic() -> None:
    for first, *also in RUNNERS:
        assert all(first.topics[0] in p.topics for p in also), (first.name, [p.name for p in also])


def test_every_record_a_read_model_takes_is_carried_by_a_topic_it_reads() -> None:
    # a name here that no topic of the read model carries would be skipped on its header,
    # silently: a typo, or a record moved to another topic
    for projection in REGISTERED:
        carried = {r for name in projection.topics for r in topic_by_name(name).records}
        assert set(projection.records or ()) <= carried, projection.name


def test_the_read_models_of_sluice_runs_name_the_records_they_take() -> None:
    # one with no list decodes every event of sluice.runs, most of which it ignores
    readers = [p for p in REGISTERED if RUNS.name in p.topics]

    assert readers
    assert all(p.records for p in readers), [p.name for p in readers if not p.records]


def test_every_record_the_dead_letters_write_is_one_they_take() -> None:
    # the list is written beside write_one's cases: a case added without its name would be
    # skipped on the header and never reach write_one
    carried = {r for name in DEAD_LETTERS.topics for r in topic_by_name(name).records}
    writing = set()
    for name in carried:
        conn = _Statements()
        write_one(cast(Conn, conn), decode_record(default_codec().encode(name, example_of(name))))
        if conn.executed:
            writing.add(name)

    assert writing
    assert writing <= (DEAD_LETTERS.records or set())


class _Statements:
    """Counts the statements a handler sends (what they do is the integration tests')."""

    def __init__(self) -> None:
        self.executed = 0

    def execute(self, *_: object, **__: object) -> None:
        self.executed += 1
