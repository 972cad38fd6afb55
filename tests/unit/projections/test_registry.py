"""Which runner of ``sluice processor projection`` runs which read model."""

from __future__ import annotations

from collections import Counter

from projections.registry import REGISTERED, RUNNERS
from schemas.topics import RUNS, topic_by_name


def test_every_registered_read_model_is_run_by_exactly_one_runner() -> None:
    runs = Counter(p.name for group in RUNNERS for p in group)

    assert runs == Counter(p.name for p in REGISTERED)
    assert set(runs.values()) == {1}


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
