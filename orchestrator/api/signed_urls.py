"""Time-limited download links for artifacts: HMAC-SHA256 over the artifact id and expiry.

``GET /artifacts/{id}/download?expires=E&signature=S`` serves the artifact without a token
while ``E`` (Unix seconds) is in the future and ``S`` is the HMAC, under the API's URL key,
of ``"<id>\\n<E>"``. Anything else is 403. The URL key is derived from the secrets key
(``SLUICE_SECRETS_KEY`` or the key file), so every API process of one deployment signs and
verifies alike, and rotating the secrets key revokes every link at once.

Pure functions; the clock is read by the route and passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

__all__ = ["download_path", "signature", "url_key", "verify"]

_PURPOSE = b"sluice artifact download urls v1"


def url_key(secrets_key: bytes) -> bytes:
    """The key that signs download links, derived from (and never equal to) the secrets key."""
    return hmac.new(secrets_key, _PURPOSE, hashlib.sha256).digest()


def signature(key: bytes, artifact_id: str, expires: int) -> str:
    """Lower-case hex HMAC-SHA256 of ``"<artifact_id>\\n<expires>"``."""
    message = f"{artifact_id}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def download_path(key: bytes, artifact_id: str, expires: int) -> str:
    """The signed path (with its query) of ``artifact_id``, valid until ``expires``."""
    query = urlencode({"expires": expires, "signature": signature(key, artifact_id, expires)})
    return f"/artifacts/{artifact_id}/download?{query}"


def verify(key: bytes, artifact_id: str, expires: int, sent: str, *, now: float) -> str | None:
    """Why the link is refused (expired, or not signed by us), or None when it is good."""
    # Bytes, not str: compare_digest refuses non-ASCII text, and a link may carry anything.
    if not hmac.compare_digest(signature(key, artifact_id, expires).encode(), sent.encode()):
        return "the download link's signature is not valid for this artifact"
    if expires <= now:
        return "the download link has expired; list the run's artifacts for a fresh one"
    return None
