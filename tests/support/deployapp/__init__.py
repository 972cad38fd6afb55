"""The test app deployed in tests and benchmarks, and the load generator that measures it.

Both are small Go programs (``app/``, ``loadgen/``) built with the machine's Go toolchain
(infra installs ``golang-go`` for MinIO) into ``~/.cache/sluice/deployapp``, rebuilt when
their source changes. The app's images are made with ``docker import`` of a tarball holding
the static binary alone: no base image, no registry, no network needed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import docker

__all__ = ["LoadRun", "LoadSummary", "app_image", "build", "start_load"]

HERE = Path(__file__).resolve().parent
CACHE = Path(os.path.expanduser("~/.cache/sluice/deployapp"))
REPOSITORY = "127.0.0.1:5000/sluice-testapp"


def build(program: str) -> Path:
    """The binary of ``program`` (``app`` or ``loadgen``), built once per source version."""
    source = (HERE / program / "main.go").read_bytes()
    out = CACHE / f"{program}-{hashlib.sha256(source).hexdigest()[:12]}"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
        subprocess.run(
            ["go", "build", "-o", str(out), "."], cwd=HERE / program, env=env, check=True
        )
    return out


def app_image(client: docker.DockerClient, tag: str, **env: str) -> str:
    """An image of the test app tagged ``tag`` whose process gets ``env`` (e.g. VERSION)."""
    name = f"{REPOSITORY}:{tag}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(build("app"), arcname="app")
    changes = [f"ENV {k}={v}" for k, v in env.items()] + ['CMD ["/app"]']
    client.api.import_image_from_data(
        buffer.getvalue(), repository=REPOSITORY, tag=tag, changes=changes
    )
    return name


class LoadSummary(TypedDict):
    """What the load generator counted: every answer, the non-2xx ones, 2xx ones by version."""

    total: int
    failed: int
    by_status: dict[str, int]
    by_version: dict[str, int]
    seconds: float
    rate: float


@dataclass
class LoadRun:
    """A running load generator; :meth:`result` waits for it and returns its summary."""

    process: subprocess.Popen[str]
    answers: Path

    def stop(self) -> None:
        self.process.terminate()

    def finish(self, tail_s: float = 2.0) -> LoadSummary:
        """Keep the load on ``tail_s`` longer (what is served after a deployment ended),
        then stop it: its summary. A load only has to outlast what it watches."""
        time.sleep(tail_s)
        self.stop()
        return self.result()

    def result(self, timeout: float = 120) -> LoadSummary:
        out, _ = self.process.communicate(timeout=timeout)
        summary: LoadSummary = json.loads(out.strip().splitlines()[-1])
        return summary

    def lines(self) -> list[tuple[int, int, str]]:
        """Every answer: (sent at ms, status, version or error)."""
        rows = (line.split("\t") for line in self.answers.read_text().splitlines())
        return [(int(r[0]), int(r[1]), r[2]) for r in rows]


def start_load(url: str, *, rate: int, seconds: float, answers: Path) -> LoadRun:
    """GET ``url`` at ``rate`` requests/s for ``seconds``, recording every answer."""
    command = [str(build("loadgen")), f"-url={url}", f"-rate={rate}"]
    command += [f"-duration={seconds}s", f"-out={answers}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    return LoadRun(process, answers)
