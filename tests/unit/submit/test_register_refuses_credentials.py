"""Secrets never reach Kafka: a repository URL with a password is refused before sending."""

from __future__ import annotations

import pytest

from orchestrator.submit import InvalidRequest, register_pipeline
from schemas.settings import ServiceSettings


def test_a_repository_url_with_a_password_is_refused_before_anything_is_sent() -> None:
    unreachable = ServiceSettings(kafka_bootstrap="127.0.0.1:1")
    with pytest.raises(InvalidRequest, match="must not carry a password"):
        register_pipeline(
            unreachable,
            pipeline_id="p1",
            name="p1",
            repo_url="https://bob:hunter2@git.example.com/repo.git",
        )
