"""Outgoing webhooks: a signed JSON POST per notification.

Headers a receiver sees::

    Content-Type: application/json
    X-Sluice-Event: run.failed
    X-Sluice-Delivery: <payload id>          (the idempotency key; also Idempotency-Key)
    X-Sluice-Signature-256: sha256=<hex>     (HMAC-SHA256 of the raw body, subscription secret)

A receiver recomputes the HMAC over the exact bytes it received with the secret it was given
at ``sluice notifications subscribe`` and compares in constant time (:func:`verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx

from schemas.errors import InfrastructureError

__all__ = [
    "SIGNATURE_HEADER",
    "DeliveryFailed",
    "post_json",
    "sign",
    "verify",
    "webhook_request",
]

SIGNATURE_HEADER = "X-Sluice-Signature-256"


class DeliveryFailed(InfrastructureError):
    """A receiver could not be reached or refused a notification; it will be retried."""


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """True if ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    return hmac.compare_digest(sign(secret, body), header)


def webhook_request(payload: Mapping[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the webhook POST carrying ``payload``."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "sluice-notifier/1",
        "X-Sluice-Event": str(payload["event"]),
        "X-Sluice-Delivery": str(payload["id"]),
        "Idempotency-Key": str(payload["id"]),
        SIGNATURE_HEADER: sign(secret, body),
    }
    return body, headers


def post_json(client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str]) -> str:
    """POST ``body``; the response status line on 2xx, else :class:`DeliveryFailed`."""
    try:
        response = client.post(url, content=body, headers=dict(headers))
    except httpx.HTTPError as e:
        raise DeliveryFailed(f"{type(e).__name__}: {e}") from e
    if not response.is_success:
        raise DeliveryFailed(f"HTTP {response.status_code} from the receiver")
    return f"HTTP {response.status_code}"
