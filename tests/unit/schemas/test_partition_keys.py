"""run_id_on_partition draws a run id whose murmur2 partition is the one asked for, so the
runs an edge requests together share a partition of sluice.runs (docs/trigger-path.md 24)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from schemas.eventlog import partition_for
from schemas.partition_keys import NoKeyOnPartition, murmur2, run_id_on_partition

random16 = st.binary(min_size=16, max_size=16)


@st.composite
def partition_and_count(draw: st.DrawFn) -> tuple[int, int]:
    partitions = draw(st.integers(1, 256))
    return draw(st.integers(0, partitions - 1)), partitions


@given(st.binary(max_size=64))
def test_murmur2_is_the_hash_kafka_clients_partition_by(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF


@given(random16, partition_and_count())
def test_the_run_id_lands_on_the_partition_asked_for(
    random: bytes, target: tuple[int, int]
) -> None:
    partition, partitions = target
    assert (
        partition_for(run_id_on_partition(random, partition, partitions), partitions) == partition
    )


@given(random16, partition_and_count())
def test_the_run_id_is_the_random_uuid_but_for_its_last_four_hex_digits(
    random: bytes, target: tuple[int, int]
) -> None:
    drawn = run_id_on_partition(random, *target)
    plain = str(uuid.UUID(bytes=random, version=4))
    assert uuid.UUID(drawn).version == 4
    assert drawn[:-4] == plain[:-4]


@pytest.mark.parametrize("partition", [-1, 12])
def test_a_partition_the_topic_does_not_have_is_refused(partition: int) -> None:
    with pytest.raises(NoKeyOnPartition, match=r"is not one of 0\.\.11"):
        run_id_on_partition(bytes(16), partition, 12)
