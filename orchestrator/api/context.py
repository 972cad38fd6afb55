"""What every route needs, built once per API process and passed down explicitly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Producer as KafkaProducer
from cryptography.fernet import Fernet
from minio import Minio

from orchestrator.api.branches import BranchHeads
from orchestrator.api.db import Database
from orchestrator.api.follower import RunsFollower
from orchestrator.api.ratelimit import RateLimiter
from orchestrator.api.row_cache import RowCache
from orchestrator.api.settings import ApiSettings
from orchestrator.api.tokens import TokenInfo
from schemas.delivery import LoopAppender
from schemas.eventlog import EndOffsets, TopicNames
from schemas.settings import ServiceSettings
from schemas.table_changes import TableChanges

__all__ = ["Context"]


@dataclass(frozen=True, kw_only=True)
class Context:
    """The API process's connections and settings."""

    settings: ServiceSettings
    api: ApiSettings
    db: Database
    follower: RunsFollower
    producer: KafkaProducer
    appender: LoopAppender  # the trigger POST's append, on the event loop
    s3: Minio
    limiter: RateLimiter
    names: TopicNames
    fernet: Fernet  # encrypts webhook secrets, with the secrets key
    url_key: bytes  # signs artifact download links (derived from the secrets key)
    end_offsets: EndOffsets  # where a topic's partitions end now (a log stream's last lines)
    branches: BranchHeads = field(default_factory=BranchHeads)
    changes: TableChanges  # PostgreSQL's notices that keep the two caches below honest
    token_rows: RowCache[str, TokenInfo]  # by the token's digest
    pipeline_rows: RowCache[str, Mapping[str, Any]]  # read-only: shared by every request

    def run_url(self, pipeline_id: str, run_id: str) -> str:
        """The run page of a run (``web_url``); its JSON is at the same path without ``/ui``."""
        return f"{self.api.base_url}/ui/pipelines/{pipeline_id}/runs/{run_id}"
