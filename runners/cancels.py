"""Noticing cancellations among the runner's notices (:mod:`runners.notices`)."""

from __future__ import annotations

from collections.abc import Iterable

from runners.messages import CancelNotice, cancel_notice

__all__ = ["cancellations"]


def cancellations(values: Iterable[bytes]) -> list[CancelNotice]:
    """The ``StageCancelled`` and ``RunCancelled`` among ``values``, in order."""
    return [notice for value in values if (notice := cancel_notice(value)) is not None]
