"""Which runner of ``sluice processor projection`` runs which read model."""

from __future__ import annotations

from collections import Counter

from projections.registry import REGISTERED, RUNNERS


def test_every_registered_read_model_is_run_by_exactly_one_runner() -> None:
    runs = Counter(p.name for group in RUNNERS for p in group)

    assert runs == Counter(p.name for p in REGISTERED)
    assert set(runs.values()) == {1}


def test_the_read_models_a_runner_shares_all_read_its_first_one_s_main_topic() -> None:
    for first, *also in RUNNERS:
        assert all(first.topics[0] in p.topics for p in also), (first.name, [p.name for p in also])
