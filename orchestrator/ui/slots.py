"""Runner slots as Prometheus last scraped them (runners export
``sluice_runner_slots_busy``/``_free`` per runner; see ``schemas/metrics.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

__all__ = ["RunnerSlots", "slots"]


@dataclass(frozen=True, slots=True)
class RunnerSlots:
    """One runner's slots; ``error`` says why none could be read."""

    runner: str
    busy: int
    free: int


def slots(prometheus_url: str, timeout_s: float = 2.0) -> tuple[list[RunnerSlots], str | None]:
    """Every runner's slots, and an error message when Prometheus could not be asked."""
    found: dict[str, dict[str, int]] = {}
    try:
        with httpx.Client(base_url=prometheus_url, timeout=timeout_s) as http:
            for kind in ("busy", "free"):
                answer = http.get("/api/v1/query", params={"query": f"sluice_runner_slots_{kind}"})
                answer.raise_for_status()
                for item in answer.json()["data"]["result"]:
                    runner = item["metric"].get("runner", "?")
                    found.setdefault(runner, {})[kind] = int(float(item["value"][1]))
    except (httpx.HTTPError, KeyError, ValueError) as e:
        return [], f"Prometheus at {prometheus_url} could not be asked: {e}"
    return [
        RunnerSlots(r, v.get("busy", 0), v.get("free", 0)) for r, v in sorted(found.items())
    ], None
