"""Reaching the real services that infra/ starts; in CI an unreachable one fails the test."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

import pytest

__all__ = ["in_ci", "require"]


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where a missing service is a failure."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(service: str, error: BaseException) -> NoReturn:
    """Fail in CI, skip elsewhere, naming the service and how to bring it up."""
    message = f"{service} is not reachable ({type(error).__name__}: {error}); run infra/up"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)  # only outside CI: in CI the line above has failed the test


def require(service: str, probe: Callable[[], object]) -> None:
    """Run ``probe``; if it raises, the service counts as unavailable."""
    try:
        probe()
    except Exception as e:  # any driver error means the same thing here
        unavailable(service, e)
