"""GitHub Actions → pipeline.yaml, one workflow feature at a time."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from orchestrator.domain import parse_pipeline
from orchestrator.domain.imports import Finding, Severity, import_pipeline

RUNS = "the stage runs regardless"


def _import(text: str) -> tuple[dict[str, Any], list[Finding]]:
    imported = import_pipeline(textwrap.dedent(text), name="t")
    parse_pipeline(imported.pipeline_yaml)
    return yaml.safe_load(imported.pipeline_yaml), list(imported.findings)


def test_jobs_needs_run_steps_env_and_timeout_carry_over() -> None:
    doc, findings = _import("""
        name: ci
        on: [push]
        env: {GLOBAL: "1"}
        jobs:
          build:
            runs-on: ubuntu-latest
            container: python:3.12
            timeout-minutes: 15
            env: {MODE: fast}
            steps:
              - uses: actions/checkout@v4
              - run: make build
              - run: make test
                working-directory: src
          ship:
            needs: build
            container: {image: alpine:3}
            continue-on-error: true
            steps:
              - run: echo ${{ github.sha }} ${{ secrets.TOKEN }}
    """)

    assert doc["name"] == "ci" and doc["variables"] == {"GLOBAL": "1"}
    build, ship = doc["stages"]["build"], doc["stages"]["ship"]
    assert build == {
        "image": "python:3.12",
        "variables": {"MODE": "fast"},
        "script": ["make build", "cd src && make test"],
        "timeout": "15m",
    }
    assert ship["needs"] == ["build"] and ship["allow_failure"] is True
    assert ship["secrets"] == ["TOKEN"]
    assert ship["script"] == ["echo ${SLUICE_COMMIT_SHA} ${TOKEN}"]
    assert [f.severity for f in findings] == [Severity.CHANGED] * len(findings)


def test_a_plain_matrix_stays_a_matrix() -> None:
    doc, _ = _import("""
        on: push
        jobs:
          test:
            container: python
            strategy: {matrix: {py: ["3.11", "3.12"], os: [linux]}}
            steps: [{run: "tox -e ${{ matrix.py }}"}]
    """)

    assert doc["stages"]["test"]["matrix"] == {"py": ["3.11", "3.12"], "os": ["linux"]}
    assert doc["stages"]["test"]["script"] == ["tox -e ${py}"]


def test_matrix_include_and_exclude_become_one_stage_per_combination() -> None:
    doc, _ = _import("""
        on: push
        jobs:
          test:
            container: python
            strategy:
              matrix:
                py: ["3.11", "3.12"]
                os: [linux, mac]
                exclude: [{py: "3.11", os: mac}]
                include:
                  - {py: "3.12", os: linux, extra: "yes"}
                  - {py: "3.13", os: linux}
            steps: [{run: make}]
          after:
            needs: [test]
            container: alpine
            steps: [{run: done}]
    """)

    variables = {k: v["variables"] for k, v in doc["stages"].items() if k.startswith("test")}
    assert variables == {
        "test (3.11; linux)": {"py": "3.11", "os": "linux"},
        "test (3.12; linux)": {"py": "3.12", "os": "linux", "extra": "yes"},
        "test (3.12; mac)": {"py": "3.12", "os": "mac"},
        "test (3.13; linux)": {"py": "3.13", "os": "linux"},
    }
    assert doc["stages"]["after"]["needs"] == list(variables)


def test_if_on_ref_and_event_name_becomes_when_and_others_are_reported() -> None:
    doc, findings = _import("""
        on: push
        jobs:
          deploy:
            container: alpine
            if: github.ref == 'refs/heads/main' && github.event_name == 'push'
            steps: [{run: deploy}]
          release:
            container: alpine
            if: startsWith(github.ref, 'refs/tags/')
            steps: [{run: release}]
          review:
            container: alpine
            if: ${{ github.event_name == 'pull_request' }}
            steps: [{run: review}]
          odd:
            container: alpine
            if: github.actor == 'bot'
            steps: [{run: x}, {uses: some/action@v1}]
    """)

    stages = doc["stages"]
    assert stages["deploy"]["when"] == {"branches": ["main"], "events": ["branch", "tag"]}
    assert stages["release"]["when"] == {"tags": ["*"]}
    assert stages["review"]["when"] == {"events": ["merge_request"]}
    assert "when" not in stages["odd"]
    assert [(f.line, f.message) for f in findings if f.severity is Severity.DROPPED] == [
        (18, "job 'odd': if: \"github.actor == 'bot'\" is not carried over; " + RUNS),
        (19, "job 'odd': step 'some/action@v1' uses some/action@v1, an action Sluice cannot run"),
    ]
