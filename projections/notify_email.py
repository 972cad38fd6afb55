"""E-mail over SMTP: a plain-text message saying what happened, with a link to the run."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from projections.notify_slack import summary
from projections.notify_webhook import DeliveryFailed

__all__ = ["SmtpSettings", "email_message", "send_email"]


_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """Where and how the notifier sends e-mail. The password is never shown or logged."""

    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "sluice@localhost"
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpSettings:
        """``SLUICE_SMTP_HOST``, ``_PORT``, ``_FROM``, ``_USER``, ``_PASSWORD``, ``_STARTTLS``."""
        return cls(
            host=env.get("SLUICE_SMTP_HOST", cls.host),
            port=int(env.get("SLUICE_SMTP_PORT", str(cls.port))),
            sender=env.get("SLUICE_SMTP_FROM", cls.sender),
            username=env.get("SLUICE_SMTP_USER", ""),
            password=env.get("SLUICE_SMTP_PASSWORD", ""),
            starttls=env.get("SLUICE_SMTP_STARTTLS", "false").lower() in _TRUE,
        )


def email_message(payload: Mapping[str, Any], *, sender: str, to: str) -> EmailMessage:
    """The e-mail for ``payload``; its subject says the event and the run's status."""
    run = payload["run"]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"[sluice] {summary(payload)}"
    msg["X-Sluice-Delivery"] = str(payload["id"])
    lines = [
        summary(payload),
        "",
        f"pipeline: {run['pipeline_name']} ({run['pipeline_id']})",
        f"branch:   {run['branch']} @ {run['commit_sha']}",
        f"status:   {run['status'] or payload['event']}",
        f"run:      {run['url']}",
    ]
    if payload.get("reason"):
        lines.append(f"reason:   {payload['reason']}")
    msg.set_content("\n".join(lines) + "\n")
    return msg


def send_email(smtp: SmtpSettings, msg: EmailMessage) -> str:
    """Send ``msg``; what the server said, else :class:`DeliveryFailed`."""
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password)
            refused = client.send_message(msg)
    except (OSError, smtplib.SMTPException) as e:
        raise DeliveryFailed(f"SMTP {smtp.host}:{smtp.port}: {e}") from e
    if refused:
        raise DeliveryFailed(f"SMTP refused recipients: {sorted(refused)}")
    return f"accepted by {smtp.host}:{smtp.port}"
