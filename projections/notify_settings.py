"""How the notifier links to runs, reaches SMTP and backs off (``SLUICE_*`` variables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from projections.notify_email import SmtpSettings

__all__ = ["NotifierSettings"]


@dataclass(frozen=True, kw_only=True)
class NotifierSettings:
    """How the notifier links to runs, reaches SMTP and backs off (``SLUICE_*`` variables)."""

    public_url: str = "http://127.0.0.1:8080"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    give_up_after_s: float = 24 * 3600.0
    http_timeout_s: float = 10.0
    idle_poll_s: float = 0.2
    flaky_poll_s: float = 2.0  # how often tests that became flaky are looked for

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifierSettings:
        """Read ``SLUICE_PUBLIC_URL`` and the ``SLUICE_SMTP_*`` variables."""
        smtp = SmtpSettings.from_env(env)
        return cls(public_url=env.get("SLUICE_PUBLIC_URL", cls.public_url), smtp=smtp)
