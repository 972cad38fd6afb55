"""What a projection runner accepts to serve, before it connects to anything."""

from __future__ import annotations

import pytest

from projections.log_lines import LOG_LINES
from projections.projector import READ_MODEL
from projections.runner import ProjectionRunner
from schemas.settings import ServiceSettings
from schemas.topics import LOGS, RUNS

NOWHERE = ServiceSettings(kafka_bootstrap="127.0.0.1:9")


def test_a_runner_refuses_to_serve_one_read_model_twice() -> None:
    # its batch's work and offsets are keyed by name: the second would be dropped unseen
    with pytest.raises(ValueError, match="log_lines"):
        ProjectionRunner(
            READ_MODEL, NOWHERE, also=(LOG_LINES.part(RUNS.name), LOG_LINES.part(LOGS.name))
        )
