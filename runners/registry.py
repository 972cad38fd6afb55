"""The local image registry's HTTP API (Docker Registry v2): what it holds, and labels.

Used to say which images exist when a stage names one that does not (did-you-mean), and to
tell whether a catalogue image in the registry was built from the catalogue line as it is now.
"""

from __future__ import annotations

import difflib
from typing import Any

import httpx

from schemas.errors import InfrastructureError

__all__ = ["Registry", "RegistryUnreachable", "suggest"]

_MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


class RegistryUnreachable(InfrastructureError):
    """The image registry did not answer (or answered with a server error)."""


class Registry:
    """A Docker Registry v2 at ``address`` (``host:port``, plain HTTP on loopback)."""

    def __init__(self, address: str, *, timeout_s: float = 5.0) -> None:
        """Talk to the registry at ``address``."""
        self.address = address
        self._base = f"http://{address}/v2"
        self._timeout = timeout_s

    def images(self) -> list[str]:
        """Every ``name:tag`` the registry holds, sorted."""
        repos = self._get(f"{self._base}/_catalog?n=1000").json().get("repositories") or []
        found: list[str] = []
        for repo in repos:
            tags = self._get(f"{self._base}/{repo}/tags/list").json().get("tags") or []
            found.extend(f"{repo}:{tag}" for tag in tags)
        return sorted(found)

    def labels(self, name: str, tag: str) -> dict[str, str] | None:
        """The labels of ``name:tag``'s image config, or None when it is not there."""
        manifest = self._get(
            f"{self._base}/{name}/manifests/{tag}", headers={"Accept": _MANIFEST_TYPES}
        )
        if manifest.status_code == 404:
            return None
        digest = manifest.json().get("config", {}).get("digest")
        if not digest:
            return None
        config: dict[str, Any] = self._get(f"{self._base}/{name}/blobs/{digest}").json()
        return dict((config.get("config") or {}).get("Labels") or {})

    def _get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = httpx.get(url, headers=headers, timeout=self._timeout, follow_redirects=True)
        except httpx.HTTPError as e:
            raise RegistryUnreachable(f"the registry {self.address} did not answer: {e}") from e
        if response.status_code >= 500:
            raise RegistryUnreachable(
                f"the registry {self.address} failed: HTTP {response.status_code}"
            )
        return response


def suggest(wanted: str, existing: list[str]) -> list[str]:
    """The existing images closest to ``wanted`` (``pyhton:3.11`` → ``python:3.11``)."""
    return difflib.get_close_matches(wanted, existing, n=3, cutoff=0.6)
