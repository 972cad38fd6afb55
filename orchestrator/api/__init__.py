"""Sluice's HTTP API (FastAPI): runs, pipelines, artifacts, logs, secrets, tokens, git
webhooks, cron schedules, ``/healthz`` and ``/metrics``. ``create_app`` builds it;
``sluice api`` serves it with uvicorn."""

from orchestrator.api.app import create_app
from orchestrator.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
