"""The HTTP client of Sluice's API (on httpx), and how the CLI finds the API.

Where the API is and which token to send, first found wins: ``--url``/``--token`` flags,
``SLUICE_API_URL``/``SLUICE_API_TOKEN``, then the config file ``sluice login`` writes
(``$SLUICE_CONFIG`` or ``~/.config/sluice/config.toml``: ``url = "…"``, ``token = "…"``),
then ``http://127.0.0.1:8080``.

Errors::

    SluiceError
    ├── ApiError (DomainError)            the API refused the request (4xx): .status, .detail
    ├── ApiUnavailable (InfrastructureError)  not reachable, or a 5xx
    └── ChecksumMismatch (InfrastructureError)  a download's SHA-256 differs from the record
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from schemas.errors import DomainError, InfrastructureError, SluiceError

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "ApiUnavailable",
    "ChecksumMismatch",
    "Client",
    "Connection",
    "SseEvent",
    "add_connection_args",
    "client_from_args",
    "config_path",
    "parse_sse",
    "print_json",
    "run_cli",
    "save_config",
]

DEFAULT_URL = "http://127.0.0.1:8080"


class ApiError(DomainError):
    """The API refused the request; ``detail`` says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class ApiUnavailable(InfrastructureError):
    """The API is unreachable or failed; check `sluice api` runs and the URL is right."""


class ChecksumMismatch(InfrastructureError):
    """A download's SHA-256 is not the one recorded; the file was removed, download again."""


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the API is and the token to send."""

    url: str
    token: str | None

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        token: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        config: Path | None = None,
    ) -> Connection:
        """Flags, then environment, then the config file, then the default URL."""
        env = os.environ if env is None else env
        stored = _read_config(config or config_path())
        return cls(
            url=url or env.get("SLUICE_API_URL") or stored.get("url") or DEFAULT_URL,
            token=token or env.get("SLUICE_API_TOKEN") or stored.get("token"),
        )


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """The CLI's config file: ``$SLUICE_CONFIG``, else ``~/.config/sluice/config.toml``."""
    return Path(env.get("SLUICE_CONFIG") or Path.home() / ".config/sluice/config.toml")


def save_config(url: str, token: str, path: Path | None = None) -> Path:
    """Write ``url`` and ``token`` to the CLI's config file, readable by its owner only."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"url = {json.dumps(url)}\ntoken = {json.dumps(token)}\n"  # JSON strings are TOML's
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)
    return path


def _read_config(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ApiError(0, f"cannot read {path}: {e}") from e
    return {k: str(v) for k, v in data.items() if k in ("url", "token")}


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One Server-Sent Event."""

    id: str | None
    event: str
    data: str


class Client:
    """Calls of the Sluice API; every failure is an :class:`ApiError` or
    :class:`ApiUnavailable`. ``transport`` may be injected (tests)."""

    def __init__(
        self, connection: Connection, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        """A client of the API at ``connection.url``."""
        headers = {"Authorization": f"Bearer {connection.token}"} if connection.token else {}
        self._http = httpx.Client(
            base_url=connection.url, headers=headers, timeout=60, transport=transport
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ApiUnavailable(f"cannot reach the API at {self._http.base_url}: {e}") from e
        _check(response)
        return response.json() if response.content else None

    def register_pipeline(self, **body: Any) -> Any:
        """POST /pipelines."""
        return self._call("POST", "/pipelines", json=body)

    def pipelines(self) -> Any:
        """GET /pipelines."""
        return self._call("GET", "/pipelines")

    def environments(self) -> Any:
        """GET /environments."""
        return self._call("GET", "/environments")

    def environment(self, name: str) -> Any:
        """GET /environments/{name}."""
        return self._call("GET", f"/environments/{name}")

    def deployments(self, name: str, *, limit: int = 20) -> Any:
        """GET /environments/{name}/deployments."""
        return self._call("GET", f"/environments/{name}/deployments", params={"limit": limit})

    def rollback(self, name: str, *, to: str | None = None) -> Any:
        """POST /environments/{name}/rollback."""
        return self._call("POST", f"/environments/{name}/rollback", json={"to": to})

    def decide(self, name: str, deployment_id: str, decision: str) -> Any:
        """POST /environments/{name}/deployments/{id}/promote (or /abort)."""
        return self._call("POST", f"/environments/{name}/deployments/{deployment_id}/{decision}")

    def protect(self, name: str, *, protected: bool = True) -> Any:
        """PUT (or DELETE) /environments/{name}/protection."""
        return self._call("PUT" if protected else "DELETE", f"/environments/{name}/protection")

    def play(self, run_id: str, stage: str) -> Any:
        """POST /pipelines/{id}/runs/{run_id}/stages/{stage}/play (the run's pipeline is
        looked up first)."""
        pipeline_id = self.run(run_id)["pipeline_id"]
        return self._call("POST", f"/pipelines/{pipeline_id}/runs/{run_id}/stages/{stage}/play")

    def trigger(self, pipeline_id: str, **body: Any) -> Any:
        """POST /pipelines/{id}/runs."""
        return self._call("POST", f"/pipelines/{pipeline_id}/runs", json=body)

    def run(self, run_id: str) -> Any:
        """GET /runs/{id}."""
        return self._call("GET", f"/runs/{run_id}")

    def runs(self, pipeline_id: str, **params: Any) -> Any:
        """GET /pipelines/{id}/runs (one page)."""
        query = {k: v for k, v in params.items() if v is not None}
        return self._call("GET", f"/pipelines/{pipeline_id}/runs", params=query)

    def cancel(self, run_id: str) -> Any:
        """POST /runs/{id}/cancel."""
        return self._call("POST", f"/runs/{run_id}/cancel")

    def retry(self, run_id: str, stage: str) -> Any:
        """POST /runs/{id}/stages/{stage}/retry."""
        return self._call("POST", f"/runs/{run_id}/stages/{stage}/retry")

    def dead_letters(self, **params: Any) -> Any:
        """GET /dead-letters (filters: pipeline, reason, older_than, status)."""
        query = {k: v for k, v in params.items() if v is not None}
        return self._call("GET", "/dead-letters", params=query)

    def dead_letter(self, dead_letter_id: str) -> Any:
        """GET /dead-letters/{id}."""
        return self._call("GET", f"/dead-letters/{dead_letter_id}")

    def redrive(self, dead_letter_id: str) -> Any:
        """POST /dead-letters/{id}/redrive."""
        return self._call("POST", f"/dead-letters/{dead_letter_id}/redrive")

    def redrive_many(self, **body: Any) -> Any:
        """POST /dead-letters/redrive (filters: pipeline, reason, older_than)."""
        return self._call("POST", "/dead-letters/redrive", json=body)

    def discard(self, dead_letter_id: str, reason: str) -> Any:
        """POST /dead-letters/{id}/discard."""
        return self._call(
            "POST", f"/dead-letters/{dead_letter_id}/discard", json={"reason": reason}
        )

    def audit(self, **filters: Any) -> Any:
        """GET /audit (admin): records matching ``actor``, ``subject``, ``action``, ``since``."""
        query = {k: v for k, v in filters.items() if v is not None}
        return self._call("GET", "/audit", params=query)

    def flaky_tests(self, pipeline_id: str, **params: Any) -> Any:
        """GET /pipelines/{id}/tests/flaky (``window``, ``low``, ``high``)."""
        query = {k: v for k, v in params.items() if v is not None}
        return self._call("GET", f"/pipelines/{pipeline_id}/tests/flaky", params=query)

    def artifacts(self, run_id: str) -> Any:
        """GET /runs/{id}/artifacts."""
        return self._call("GET", f"/runs/{run_id}/artifacts")

    def search_logs(self, run_id: str, q: str, *, stage: str | None = None) -> Any:
        """GET /runs/{id}/logs?q=: the run's lines containing ``q``."""
        params = {"q": q, **({"stage": stage} if stage else {})}
        return self._call("GET", f"/runs/{run_id}/logs", params=params)

    def logs(self, run_id: str, *, stage: str | None = None, attempt: int | None = None) -> str:
        """The run's (or one stage's, or one attempt's) log as text."""
        params: dict[str, Any] = {"stage": stage} if stage else {}
        if attempt is not None:
            params["attempt"] = attempt
        try:
            response = self._http.get(f"/runs/{run_id}/logs", params=params)
        except httpx.HTTPError as e:
            raise ApiUnavailable(f"cannot reach the API at {self._http.base_url}: {e}") from e
        _check(response)
        return response.text

    def follow(
        self, run_id: str, *, stage: str | None = None, last_event_id: str | None = None
    ) -> Iterator[SseEvent]:
        """The run's log as Server-Sent Events until the run ends."""
        params: dict[str, str] = {"follow": "true", **({"stage": stage} if stage else {})}
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        try:
            with self._http.stream(
                "GET", f"/runs/{run_id}/logs", params=params, headers=headers, timeout=None
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _check(response)
                yield from parse_sse(response.iter_lines())
        except httpx.HTTPError as e:
            raise ApiUnavailable(f"the log stream of {run_id} broke: {e}") from e

    def download(self, artifact: Mapping[str, Any], dest: Path) -> Path:
        """Download ``artifact`` into ``dest`` (a folder), verifying its SHA-256."""
        target: Path = dest / str(artifact["name"])
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", f"/artifacts/{artifact['artifact_id']}") as response:
                if response.status_code >= 400:
                    response.read()
                    _check(response)
                with target.open("wb") as out:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.HTTPError as e:
            raise ApiUnavailable(f"downloading {artifact['name']} failed: {e}") from e
        if digest.hexdigest() != artifact["sha256"]:
            target.unlink()
            raise ChecksumMismatch(
                f"{artifact['name']}: SHA-256 {digest.hexdigest()} is not "
                f"the recorded {artifact['sha256']}; download it again"
            )
        return target


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Server-Sent Events from a stream's lines."""
    event_id: str | None = None
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield SseEvent(event_id, event, "\n".join(data))
            event, data = "message", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)


def _check(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    if not isinstance(detail, str):
        detail = json.dumps(detail)
    if response.status_code >= 500:
        raise ApiUnavailable(f"the API failed ({response.status_code}): {detail}")
    raise ApiError(response.status_code, detail)


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--token`` and ``--json`` on a sub-command."""
    parser.add_argument("--url", help="API URL (default SLUICE_API_URL or the config file)")
    parser.add_argument("--token", help="API token (default SLUICE_API_TOKEN or the config)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def client_from_args(args: argparse.Namespace) -> Client:
    """A client for the URL and token the flags, environment or config file name."""
    return Client(Connection.resolve(args.url, args.token))


def run_cli(name: str, action: Callable[[], int]) -> int:
    """Run ``action``; a Sluice error becomes one line on stderr and exit status 1."""
    try:
        return action()
    except SluiceError as e:
        print(f"sluice {name}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2, sort_keys=True))
