"""The recovery tests' Sluice: the API tests' deployment (processors as threads, the API,
the trigger processor) and runner processes, on topics and a schema of their own."""

from tests.integration.api.conftest import deployment, runners

__all__ = ["deployment", "runners"]
