"""What Sluice asks of librdkafka for its producers (schemas.eventlog.producer_config)."""

from __future__ import annotations

from schemas.eventlog import producer_config
from schemas.settings import ServiceSettings

SETTINGS = ServiceSettings.from_env()


def test_a_transactional_producer_retries_a_refused_step_after_5_ms_not_100() -> None:
    # a transaction begun right after a commit is refused until the markers are written;
    # librdkafka's default 100 ms back-off made every back-to-back transaction take ~100 ms
    config = producer_config(SETTINGS, transactional_id="decider-0")
    assert config["transactional.id"] == "decider-0"
    assert config["retry.backoff.ms"] == 5


def test_what_the_caller_asks_for_wins_over_the_defaults() -> None:
    config = producer_config(
        SETTINGS, transactional_id="decider-0", **{"transaction.timeout.ms": 5000}
    )
    assert config["transaction.timeout.ms"] == 5000


def test_a_producer_without_an_id_is_idempotent_but_not_transactional() -> None:
    config = producer_config(SETTINGS)
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert "transactional.id" not in config
    assert "retry.backoff.ms" not in config
