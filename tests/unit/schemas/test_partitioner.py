"""partition_for is Kafka's murmur2 partitioner (the Java client's, librdkafka's murmur2_random,
aiokafka's under faust): keys land where every Sluice process expects them."""

from __future__ import annotations

import pytest

from schemas.eventlog import partition_for


# partitions of 1000 that the Java client's default partitioner gives these keys
@pytest.mark.parametrize(
    ("key", "partition"),
    [("", 681), ("a", 524), ("ab", 434), ("abc", 107), ("123456789", 566), ("\x00 ", 742)],
)
def test_a_key_lands_on_the_partition_the_java_client_picks(key: str, partition: int) -> None:
    assert partition_for(key, 1000) == partition
