"""Pages count against the token's rate limit, and failed sign-ins against the caller's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from tests.integration.api.conftest import Deployment, Served, serve


@pytest.fixture(scope="module")
def limited(deployment: Deployment) -> Iterator[Served]:
    """A second API process limited to 5 requests/s in bursts of 3."""
    api = replace(deployment.api_settings, rate_per_s=5.0, burst=3)
    served = serve(deployment.settings, api, loops=False)
    yield served
    served.stop()


def test_pages_over_the_tokens_rate_are_429_with_retry_after(
    deployment: Deployment, limited: Served
) -> None:
    with httpx.Client(base_url=limited.url) as http:
        signed = http.post("/ui/login", data={"token": deployment.token("read")})
        assert signed.status_code == 303
        codes = [http.get("/ui/").status_code for _ in range(4)]
        refused = http.get("/ui/runs")
    assert codes[:3] == [200, 200, 200]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


def test_guessing_tokens_on_the_sign_in_form_is_rate_limited(limited: Served) -> None:
    with httpx.Client(base_url=limited.url) as http:
        answers = [http.post("/ui/login", data={"token": f"guess-{i}"}) for i in range(5)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[-1].status_code == 429
    assert "Retry-After" in answers[-1].headers
