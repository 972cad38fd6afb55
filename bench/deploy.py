"""What a deployment costs, beside the raw floor measured in the same run.

Prints:
  * raw floor: a bare ``docker run -d`` of the app + wait until it answers + HAProxy
    ``set server`` of one slot (addr, ready, weight) + the first answer through HAProxy;
  * rolling update of 3 instances v1 → v2 by the deployer's ``Deployment`` (real Docker and
    HAProxy; its events are kept in memory instead of being sent to Kafka), under 250 req/s
    from the bounded load generator: time to ``DeploymentSucceeded`` and failed requests;
  * rolling to a never-healthy version: time to ``DeploymentRolledBack`` (healthy_deadline 3 s)
    and failed requests;
  * canary abort: a canary answering 50 % errors at a 10 % step: from its first bad answer to
    its last (the cut-off), and failed requests;
  * blue-green switch: from the first answer of green to the last of blue, failed requests;
  * manual rollback while blue is warm (an abort heard during ``scale_down_delay``): from
    the abort to the last answer of green, failed requests.
Run: .venv/bin/python bench/deploy.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import httpx

from orchestrator.domain.events import DeploymentAborted, DeploymentPromoted, RunEvent
from orchestrator.domain.jobs import Job
from orchestrator.domain.model import CanaryAnalysis, CanaryStep, DeploySpec, StageSpec
from orchestrator.domain.statuses import Priority
from runners.deployer.deployment import Deployment
from runners.deployer.haproxy import HAProxy
from runners.deployer.instances import ENV_LABEL, Containers
from schemas.settings import ServiceSettings
from tests.support.deployapp import app_image, start_load


def job(
    env: str,
    image: str,
    *,
    deadline_ms: int = 20_000,
    strategy: str = "rolling",
    scale_down_delay_ms: int = 1_000,
) -> Job:
    spec = DeploySpec(
        environment=env,
        image=image,
        replicas=3,
        health_check_path="/healthz",
        healthy_deadline_ms=deadline_ms,
        strategy=strategy,
        canary_steps=(CanaryStep(weight=10, pause_ms=30_000),),
        analysis=CanaryAnalysis(max_error_rate=0.1, min_requests=20),
        scale_down_delay_ms=scale_down_delay_ms,
    )
    run_id = uuid.uuid4().hex
    stage = StageSpec(name="deploy", deploy=spec)
    return Job(
        job_id=f"{run_id}/deploy/1",
        run_id=run_id,
        pipeline_id="bench",
        stage=stage,
        attempt=1,
        priority=Priority.NORMAL,
        repo_url="",
        commit_sha="",
        branch="main",
        lease_ms=1_800_000,
        enqueued_at_ms=0,
    )


class AbortOnceSwitched:
    """A person who aborts the deployment ``after_s`` once traffic switched to green."""

    def __init__(self, events: list[RunEvent], after_s: float) -> None:
        self.events, self.after_s = events, after_s
        self.switched_at: float | None = None
        self.asked_ms = 0

    def aborted(self) -> DeploymentAborted | None:
        if self.switched_at is None and any("Traffic" in type(e).__name__ for e in self.events):
            self.switched_at = time.monotonic()
        if self.switched_at is None or time.monotonic() - self.switched_at < self.after_s:
            return None
        self.asked_ms = self.asked_ms or time.time_ns() // 1_000_000
        e = self.events[0]
        return DeploymentAborted(
            run_id=e.run_id,
            stage="deploy",
            attempt=1,
            occurred_at_ms=0,
            deployment_id="",
            environment="",
            requested_by="bench",
        )

    def promoted(self, step: int) -> DeploymentPromoted | None:
        return None


def deploy(
    h: HAProxy, c: Containers, j: Job, person: AbortOnceSwitched | None = None
) -> tuple[float, list[RunEvent]]:
    events: list[RunEvent] = [] if person is None else person.events
    t = time.perf_counter()
    Deployment(j, h, c, events.append, decisions=person).run()
    return time.perf_counter() - t, events


def raw_floor(client: docker.DockerClient, h: HAProxy, env: str, image: str) -> float:
    port = h.ensure_environment(env, "/healthz")
    t = time.perf_counter()
    ct = client.containers.run(image, detach=True, labels={ENV_LABEL: env})
    ct.reload()
    ip = ct.attrs["NetworkSettings"]["IPAddress"]
    with httpx.Client(timeout=1) as http:
        while True:
            try:
                if http.get(f"http://{ip}:8080/healthz").is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.01)
        h.admit(env, "s0", f"{ip}:8080")
        while not http.get(f"http://127.0.0.1:{port}/").is_success:
            time.sleep(0.01)
    took = time.perf_counter() - t
    h.free(env, "s0")
    ct.remove(force=True)
    return took


def under_load(
    h: HAProxy,
    c: Containers,
    env: str,
    j: Job,
    out: Path,
    *,
    person: AbortOnceSwitched | None = None,
) -> tuple[float, dict[str, Any]]:
    load = start_load(f"http://127.0.0.1:{h.port_of(env)}/", rate=250, seconds=3600, answers=out)
    time.sleep(2)
    took, events = deploy(h, c, j, person)
    time.sleep(2)
    load.stop()
    last = type(events[-1]).__name__
    return took, {**load.result(), "ended": last, "answers": load.lines()}


def window_ms(answers: list[tuple[int, int, str]], first: str, last: str) -> int:
    """From the first answer matching ``first`` to the last matching ``last`` (by version or
    status), by the time each request was sent."""
    starts = [t for t, status, v in answers if first in (v, str(status))]
    ends = [t for t, status, v in answers if last in (v, str(status))]
    return max(ends) - min(starts) if starts and ends else 0


def main() -> None:
    settings = ServiceSettings.from_env()
    client = docker.DockerClient(base_url=settings.docker_host)
    h, c = HAProxy(settings.haproxy_dir), Containers(client)
    v1 = app_image(client, "v1", VERSION="v1")
    v2 = app_image(client, "v2", VERSION="v2")
    sick = app_image(client, "sick", VERSION="sick", HEALTHY="false")
    env = f"bench{uuid.uuid4().hex[:6]}"
    tmp = Path(tempfile.mkdtemp())
    try:
        floor = raw_floor(client, h, env, v1)
        print(f"raw floor: docker run + health + HAProxy set server + 1st answer: {floor:.2f} s")
        first, _ = deploy(h, c, job(env, v1))
        print(f"first deployment of 3 instances (no previous revision): {first:.2f} s")
        took, s = under_load(h, c, env, job(env, v2), tmp / "rolling")
        print(
            f"rolling 3 instances v1 -> v2 under load: {took:.2f} s ({took / floor:.1f}x the "
            f"floor), {s['total']} requests at {s['rate']:.0f}/s, {s['failed']} failed, "
            f"{s['ended']}"
        )
        took, s = under_load(h, c, env, job(env, sick, deadline_ms=3_000), tmp / "sick")
        print(
            f"rolling to a never-healthy version (deadline 3 s): {s['ended']} after {took:.2f} s, "
            f"{s['total']} requests, {s['failed']} failed, served by {sorted(s['by_version'])}"
        )
        half_bad = app_image(client, "half-bad", VERSION="bad", FAIL_PERCENT="50")
        deploy(h, c, job(env, v1))
        took, s = under_load(h, c, env, job(env, half_bad, strategy="canary"), tmp / "canary")
        cut = window_ms(s["answers"], "500", "500")
        print(
            f"canary answering 50 % errors at a 10 % step: {s['ended']} after {took:.2f} s, cut "
            f"off {cut} ms after its first bad answer, {s['failed']} failed of {s['total']}"
        )
        took, s = under_load(h, c, env, job(env, v2, strategy="blue-green"), tmp / "bg")
        switch = window_ms(s["answers"], "v2", "v1")
        print(
            f"blue-green v1 -> v2 (3 instances): {s['ended']} after {took:.2f} s (blue kept warm "
            f"1 s), first green to last blue answer {switch} ms, {s['failed']} failed "
            f"of {s['total']}"
        )
        deploy(h, c, job(env, v1))
        person = AbortOnceSwitched([], after_s=2.0)
        warm = job(env, v2, strategy="blue-green", scale_down_delay_ms=30_000)
        took, s = under_load(h, c, env, warm, tmp / "bg-abort", person=person)
        back = max(t for t, _, v in s["answers"] if v == "v2") - person.asked_ms
        print(
            f"manual rollback while blue is warm: {s['ended']}, last green answer {back} ms "
            f"after the abort, {s['failed']} failed of {s['total']}"
        )
    finally:
        for ct in client.containers.list(
            all=True, filters={"label": f"{ENV_LABEL}={env}"}, ignore_removed=True
        ):
            ct.remove(force=True)
        h.remove_environment(env)
        c.close()


if __name__ == "__main__":
    main()
