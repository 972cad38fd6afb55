"""Prometheus scrapes for real: a target it was told about is reported up."""

from __future__ import annotations

import httpx

from tests.support.waiting import eventually


def test_prometheus_reports_its_own_scrape_target_up(prometheus: str) -> None:
    def target_up() -> bool:
        body = httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="prometheus"}'})
        result = body.json()["data"]["result"]
        return bool(result) and result[0]["value"][1] == "1"

    assert eventually(target_up, timeout=30, what="Prometheus to scrape itself")
