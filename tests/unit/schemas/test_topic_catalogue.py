"""The topic catalogue: consistent with itself, with the schema store, and with Kafka configs."""

from __future__ import annotations

import enum
from dataclasses import replace
from typing import Any

import pytest

from schemas import codec
from schemas.schema_errors import UnknownTopic
from schemas.topics import (
    CHECKPOINTS,
    INBOX,
    JOB_TOPICS_BY_PRIORITY,
    RUNS,
    TOPICS,
    Topic,
    job_topic,
    topic_by_name,
    topic_configs,
    with_prefix,
)

NAMES = [topic.name for topic in TOPICS]
SEVEN_DAYS_MS = 604_800_000


def test_the_catalogue_has_every_topic_once() -> None:
    assert NAMES == [
        "sluice.triggers",
        "sluice.inbox",
        "sluice.runs",
        "sluice.jobs.critical",
        "sluice.jobs.high",
        "sluice.jobs.normal",
        "sluice.jobs.low",
        "sluice.jobs.deploy",
        "sluice.jobs.dead",
        "sluice.logs",
        "sluice.pipelines",
        "sluice.audit",
        "sluice.checkpoints",
        "sluice.tests",
        "sluice.fleet",
        "sluice.runner-notices",
    ]


def test_checkpoints_are_co_partitioned_with_runs_and_compacted() -> None:
    assert (CHECKPOINTS.partitions, CHECKPOINTS.key) == (RUNS.partitions, RUNS.key)
    assert topic_configs(CHECKPOINTS)["cleanup.policy"] == "compact"


def test_inbox_and_runs_are_co_partitioned() -> None:
    assert (INBOX.partitions, INBOX.key) == (RUNS.partitions, RUNS.key)


def test_partition_counts() -> None:
    counts = {topic.name: topic.partitions for topic in TOPICS}

    assert {name for name, n in counts.items() if n == 3} == {
        "sluice.jobs.deploy",
        "sluice.jobs.dead",
        "sluice.pipelines",
        "sluice.audit",
        "sluice.fleet",
    }
    assert {n for n in counts.values() if n != 3} == {12}


def test_the_source_of_truth_is_kept_forever_runner_notices_a_day_the_rest_a_week() -> None:
    forever = {topic.name for topic in TOPICS if topic.retention_ms == -1}
    a_day = {topic.name for topic in TOPICS if topic.retention_ms == 86_400_000}

    assert forever == {"sluice.runs", "sluice.audit", "sluice.checkpoints", "sluice.tests"}
    assert a_day == {"sluice.runner-notices"}
    assert all(t.retention_ms == SEVEN_DAYS_MS for t in TOPICS if t.name not in forever | a_day)


def test_only_pipelines_and_checkpoints_are_compacted() -> None:
    compacted = [t.name for t in TOPICS if t.cleanup_policy == "compact"]
    assert compacted == ["sluice.pipelines", "sluice.checkpoints"]
    assert {t.cleanup_policy for t in TOPICS} == {"compact", "delete"}


@pytest.mark.parametrize("topic", TOPICS, ids=NAMES)
def test_every_record_a_topic_carries_has_a_schema(topic: Topic) -> None:
    assert set(topic.records) <= set(codec.record_names())


def test_every_record_has_a_topic_or_travels_inside_a_record_that_has() -> None:
    carried = {record for topic in TOPICS for record in topic.records}
    inside = {held for record in carried for held in _held_records(_latest_schema(record))}

    assert inside == {"StageSnapshot"}
    assert carried | inside == set(codec.record_names())


def _latest_schema(record: str) -> Any:
    return codec.default_codec().store.latest(record).schema


def _held_records(schema: Any) -> set[str]:
    """The records ``bytes`` fields of ``schema`` hold (``codec.HOLDS_RECORD``), at any depth."""
    if isinstance(schema, list):
        return {held for branch in schema for held in _held_records(branch)}
    if not isinstance(schema, dict):
        return set()
    found = {schema[codec.HOLDS_RECORD]} if codec.HOLDS_RECORD in schema else set()
    nested = [f["type"] for f in schema.get("fields", ())]
    nested += [schema[k] for k in ("items", "values") if k in schema]
    if not isinstance(schema["type"], str):
        nested.append(schema["type"])
    return found | {held for n in nested for held in _held_records(n)}


def test_everything_on_the_inbox_may_be_appended_to_runs() -> None:
    assert set(INBOX.records) <= set(RUNS.records)


def test_job_topics_are_in_priority_order() -> None:
    assert list(JOB_TOPICS_BY_PRIORITY) == ["critical", "high", "normal", "low"]
    assert [t.name for t in JOB_TOPICS_BY_PRIORITY.values()] == NAMES[3:7]


def test_job_topic_takes_a_priority_string_or_str_enum() -> None:
    class Priority(enum.StrEnum):
        HIGH = "high"

    assert job_topic("low").name == "sluice.jobs.low"
    assert job_topic(Priority.HIGH).name == "sluice.jobs.high"
    assert job_topic("low", prefix="t1.").name == "t1.sluice.jobs.low"


def test_an_unknown_priority_raises_unknown_topic() -> None:
    with pytest.raises(UnknownTopic, match="'urgent'"):
        job_topic("urgent")


def test_with_prefix_prefixes_every_name_and_changes_nothing_else() -> None:
    prefixed = with_prefix("t123.")

    assert [t.name for t in prefixed] == [f"t123.{name}" for name in NAMES]
    assert [replace(t, name=t.name.removeprefix("t123.")) for t in prefixed] == list(TOPICS)


def test_topic_by_name_finds_plain_and_prefixed_names() -> None:
    assert topic_by_name("sluice.runs") is RUNS
    assert topic_by_name("t9.sluice.runs", prefix="t9.") == replace(RUNS, name="t9.sluice.runs")


def test_topic_by_name_of_an_unknown_topic_raises_unknown_topic() -> None:
    with pytest.raises(UnknownTopic, match=r"sluice\.nope"):
        topic_by_name("sluice.nope")


def test_topic_configs_on_one_broker() -> None:
    assert topic_configs(RUNS) == {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "retention.bytes": "-1",
    }
    assert topic_configs(topic_by_name("sluice.pipelines"))["cleanup.policy"] == "compact"
