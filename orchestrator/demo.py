"""``make demo``: a sample pipeline run end to end on the real services.

It creates a small git repository with a diamond pipeline (build → lint ∥ test → package),
an image of the sample app built from the repository's Dockerfile, and a rolling deploy of
that image to the environment ``staging`` (two containers behind HAProxy). It starts the
processors (the deployer among them), a runner and the API (in the background, recorded
under the state directory: a second ``make demo`` reuses them, ``make down`` stops them),
registers the pipeline, triggers a run at the new commit, and shows the stages progress and
their logs stream live from Kafka. At the end it prints where the artifact can be downloaded, the
staging environment's URL (its HAProxy frontend, left running, asked once to show it
answers), the run page's URL and a token created for the demo to sign in with (shown this
once). Exit status 0 when the run succeeded and staging answers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient
from minio import Minio
from psycopg import sql

from orchestrator.api.settings import ApiSettings
from orchestrator.api.tokens import create_token, revoke_token
from orchestrator.daemons import Daemons
from orchestrator.domain import ArtifactStored, RunEvent
from orchestrator.submit import register_pipeline, request_run
from orchestrator.wire import decode_record
from runners.config import RunnerConfig
from runners.deployer.haproxy import HAProxy
from runners.deployer.main import GROUP as DEPLOYER_GROUP
from runners.secrets import init_key, key_path
from schemas.eventlog import TopicNames, consumer
from schemas.settings import ServiceSettings

__all__ = ["main"]

PIPELINE = """\
name: demo-diamond
stages:
  build:
    image: python:3.11
    script:
      - echo "building $(git -C /src log --oneline -1 2>/dev/null || echo sources)"
      - mkdir -p dist && cp -r /src/greet /src/tests dist/ && echo "v1" > dist/VERSION
      - python3 -m compileall -q dist/greet && ls -l dist
    artifacts: {paths: [dist/], expire_in: 30d}
  lint:
    needs: [build]
    image: python:3.11
    script: ["python3 -m py_compile dist/greet/__init__.py && echo 'lint: greet compiles'"]
  test:
    needs: [build]
    image: python:3.11
    script:
      - cd dist && python3 -m pytest -v -p no:cacheprovider --junitxml=../report.xml tests
    reports: {junit: report.xml}
  package:
    needs: [lint, test]
    image: python:3.11
    script: ["tar czf dist.tgz dist && ls -l dist.tgz"]
    artifacts: {paths: [dist.tgz]}
  image:
    build_image: {context: ., dockerfile: Dockerfile, name: demo-greet}
  deploy-staging:
    needs: [package, image]
    deploy:
      environment: ENVIRONMENT
      image: ${{ images.demo-greet }}
      replicas: 2
      port: 8000
      strategy: rolling
      health_check: {path: /healthz, interval: 1s, healthy_deadline: 60s}
"""
DOCKERFILE = """\
FROM python:3.11
COPY greet /app/greet
COPY serve.py /app/serve.py
WORKDIR /app
USER 65534:65534
EXPOSE 8000
CMD ["python3", "-u", "serve.py"]
"""
SERVE = """\
# The sample app: GET / greets, GET /healthz answers ok (HAProxy's health check).

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from greet import hello


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (b"ok" if self.path == "/healthz" else hello().encode()) + b"\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"""

SOURCES = {
    "greet/__init__.py": (
        'def hello(name: str = "sluice") -> str:\n    return f"hello from {name}"\n'
    ),
    "tests/__init__.py": "",
    "Dockerfile": DOCKERFILE,
    "serve.py": SERVE,
    "tests/test_greet.py": (
        "from greet import hello\n\n\n"
        "def test_hello_names_sluice():\n    assert hello() == 'hello from sluice'\n\n\n"
        "def test_hello_names_anyone():\n    assert hello('you') == 'hello from you'\n"
    ),
}
TERMINAL = {"RunSucceeded", "RunFailed", "RunCancelled", "RunRejected"}
STATE = Path(os.environ.get("SLUICE_STATE_DIR", Path.home() / ".local/state/sluice"))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repository(environment: str = "staging") -> tuple[str, str]:
    """A local repository with the demo pipeline deploying to ``environment``; a new commit
    each time. (url, sha)"""
    repo = STATE / "demo" / "repo"
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "config", "user.email", "demo@sluice.invalid")
        _git(repo, "config", "user.name", "Sluice demo")
    (repo / "pipeline.yaml").write_text(PIPELINE.replace("ENVIRONMENT", environment))
    for name, text in SOURCES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    (repo / "RUN").write_text(uuid.uuid4().hex)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "demo change")
    return f"file://{repo}", _git(repo, "rev-parse", "HEAD")


def start(*args: str) -> bool:
    """A Sluice process in the background unless it already runs (``make down`` stops it);
    whether it was started now."""
    sluice = str(Path(sys.executable).with_name("sluice"))
    pid, started = Daemons(STATE).ensure(f"demo-{args[0]}", [sluice, *args])
    say(f"{'started' if started else 'reusing'} sluice {args[0]} (pid {pid})")
    return started


def ensure_deployer(settings: ServiceSettings) -> None:
    """Processors left running by an older Sluice carry no deployer: start one beside them
    when no deployer is in its consumer group (the deploy stage would wait for ever)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    group = settings.topic_prefix + DEPLOYER_GROUP
    try:
        members = len(admin.describe_consumer_groups([group])[group].result(10).members)
    except KafkaException:
        members = 0
    if members == 0:
        start("deployer")


def wait_for_api(url: str, timeout_s: float = 60) -> None:
    """Until the API answers its health check (a fresh one takes a few seconds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    say(f"the API at {url} did not answer; see {STATE / 'logs' / 'demo-api.log'}")


def demo_token(settings: ServiceSettings) -> str:
    """A new token for the demo (read + trigger); the previous demo token is revoked."""
    api = ApiSettings.from_env()
    kept = STATE / "demo" / "token_id"
    with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(api.pg_schema)))
        if kept.exists():
            revoke_token(conn, kept.read_text().strip())
        made = create_token(conn, name="demo", scopes=["read", "trigger"])
    kept.write_text(made.token_id)
    return made.secret


def say(text: str) -> None:
    print(text, flush=True)


def describe(event: RunEvent) -> str | None:
    """One line for the events a person watches; None for the rest."""
    name = type(event).__name__
    stage = getattr(event, "stage", None)
    attempt = getattr(event, "attempt", None)
    if name in {"StageQueued", "StageClaimed", "StageSucceeded", "StageSkipped"}:
        return f"  [{stage}] {name.removeprefix('Stage').lower()} (attempt {attempt})"
    if name == "StageFailed":
        return f"  [{stage}] failed: {getattr(event, 'reason', '')}"
    if name == "ArtifactStored":
        return f"  [{stage}] artifact {getattr(event, 'name', '')} stored"
    if name.startswith("Run"):
        return f"run {event.run_id[:8]}: {name}"
    return _deployment_line(name, event)


def _deployment_line(name: str, event: RunEvent) -> str | None:
    """One line for an image build or a deployment step; None for other events."""
    f: dict[str, Any] = {k: getattr(event, k) for k in dir(event) if not k.startswith("_")}
    lines = {
        "ImageBuilt": "image {tag} built",
        "DeploymentStarted": (
            "deploying {image} to {environment} ({strategy}, {replicas} instances)"
        ),
        "InstanceStarted": "instance {instance} started at {address}",
        "InstanceHealthy": "instance {instance} healthy",
        "InstanceUnhealthy": "instance {instance}: {reason}",
        "TrafficShifted": "traffic weights {weights}",
        "DeploymentSucceeded": "deployment to {environment} succeeded",
        "DeploymentFailed": "deployment failed: {reason}",
        "DeploymentRolledBack": "deployment rolled back: {reason}",
    }
    line = lines.get(name)
    if "weights" in f:
        f["weights"] = dict(f["weights"])
    return None if line is None else f"  [{f.get('stage', '')}] {line.format(**f)}"


def subscribe(settings: ServiceSettings) -> Consumer:
    """A consumer positioned at the end of sluice.runs and sluice.logs, before the trigger."""
    names = TopicNames(settings.topic_prefix)
    c = consumer(settings, group=f"demo-{uuid.uuid4().hex}", **{"auto.offset.reset": "latest"})
    c.subscribe([names.runs, names.logs])
    deadline = time.monotonic() + 30
    while not c.assignment() and time.monotonic() < deadline:
        c.poll(0.1)
    return c


def watch(settings: ServiceSettings, c: Consumer, run_id: str, timeout_s: float) -> list[RunEvent]:
    """Print the run's progress and logs as they arrive; return its events at the end."""
    names = TopicNames(settings.topic_prefix)
    seen: list[RunEvent] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            msg = c.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            record = decode_record(msg.value() or b"")
            if getattr(record, "run_id", None) != run_id:
                continue
            if msg.topic() == names.logs:
                for line in record.data.splitlines():
                    say(f"      {record.stage} | {line}")
                continue
            seen.append(record)
            line = describe(record)
            if line:
                say(line)
            if type(record).__name__ in TERMINAL:
                break
    finally:
        c.close()
    return seen


def artifact_urls(settings: ServiceSettings, events: list[RunEvent]) -> list[str]:
    client = Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
    )
    urls = []
    for e in events:
        if isinstance(e, ArtifactStored):
            bucket, _, key = e.storage_path.removeprefix("s3://").partition("/")
            url = client.presigned_get_object(bucket, key, expires=timedelta(hours=1))
            urls.append(f"{e.stage}/{e.name}: {e.size_bytes} bytes, sha256 {e.sha256}\n    {url}")
    return urls


def _first_host_key() -> None:
    """The demo runs everything on one host, so this host is the first: make the secrets
    key unless there is one already (a real deployment does this once, on purpose)."""
    config = RunnerConfig.from_env()
    if config.secrets_key is None and not key_path(config.state_dir).exists():
        say(f"secrets key: {init_key(config.state_dir)} (this host is the first)")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when the sample run succeeded and its environment answers."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.demo")
    parser.add_argument("--environment", default="staging", help="where the app is deployed")
    environment = parser.parse_args(argv).environment
    settings = ServiceSettings.from_env()
    say("== Sluice demo: a diamond pipeline, an image, a rolling deploy, end to end")
    _first_host_key()
    if not start("processors"):
        ensure_deployer(settings)
    for args in (("runner", "--slots", "2"), ("api",)):
        start(*args)
    url, sha = make_repository(environment)
    say(f"repository {url} at {sha[:10]}")
    prefix = settings.topic_prefix
    register_pipeline(
        settings, pipeline_id="demo", name="demo-diamond", repo_url=url, prefix=prefix
    )
    c = subscribe(settings)
    request = request_run(
        settings,
        pipeline_id="demo",
        branch="main",
        commit_sha=sha,
        requested_by="demo",
        prefix=prefix,
    )
    say(f"triggered run {request.run_id} (main → high priority)")
    events = watch(settings, c, request.run_id, timeout_s=420)
    outcome = type(events[-1]).__name__ if events else "no answer"
    for line in artifact_urls(settings, events):
        say(f"artifact {line}")
    say(f"== {outcome}; history: sluice events {request.run_id}")
    answers = outcome == "RunSucceeded" and show_environment(settings, environment)
    sign_in(settings, request.run_id)
    return 0 if answers else 1


def show_environment(settings: ServiceSettings, environment: str) -> bool:
    """Print the environment's URL and what it answers; whether it answered 200."""
    port = HAProxy(settings.haproxy_dir).port_of(environment)
    if port is None:
        say(f"environment {environment} has no HAProxy frontend; see sluice env show")
        return False
    url = f"http://127.0.0.1:{port}/"
    try:
        answer = httpx.get(url, timeout=5)
    except httpx.HTTPError as e:
        say(f"environment {environment}: {url} did not answer ({e})")
        return False
    say(f"environment {environment}: {url} answers {answer.status_code}: {answer.text.strip()}")
    say(f"  (left running; history: sluice env history {environment})")
    return answer.status_code == 200


def sign_in(settings: ServiceSettings, run_id: str) -> None:
    """Print the run page and how to sign in, with a token made for the demo."""
    base = ApiSettings.from_env().base_url
    wait_for_api(base)
    token = demo_token(settings)
    say(f"""
The processors (with the deployer), a runner and the API keep running (`make down` stops them).
  run page:  {base}/ui/pipelines/demo/runs/{run_id}
  sign in there with this token (shown once; the next `make demo` replaces it):
             {token}
  the CLI:   sluice login --url {base} --token {token}""")


if __name__ == "__main__":
    sys.exit(main())
