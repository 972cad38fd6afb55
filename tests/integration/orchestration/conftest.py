from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from schemas.settings import ServiceSettings
from tests.support.leftovers import fresh_topic_prefix
from tests.support.stack import Stack, create_topics, delete_topics


@pytest.fixture(scope="module")
def stack(kafka_admin: AdminClient, settings: ServiceSettings) -> Iterator[Stack]:
    """One stack for the module; each test makes its own runs."""
    prefix = fresh_topic_prefix("o")
    topics = create_topics(kafka_admin, prefix)
    s = Stack(settings, prefix)
    s.start()
    yield s
    s.close()
    delete_topics(kafka_admin, topics)
