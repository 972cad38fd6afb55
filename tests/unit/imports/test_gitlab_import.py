"""GitLab CI → pipeline.yaml, one GitLab feature at a time."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml

from orchestrator.domain import parse_pipeline
from orchestrator.domain.imports import Finding, ImportRefused, Severity, import_pipeline


def _import(text: str) -> tuple[dict[str, Any], list[Finding]]:
    imported = import_pipeline(textwrap.dedent(text), name="t")
    parse_pipeline(imported.pipeline_yaml)  # always a valid Sluice pipeline
    return yaml.safe_load(imported.pipeline_yaml)["stages"], list(imported.findings)


def _messages(findings: list[Finding]) -> list[tuple[int, str]]:
    return [(f.line, f.message) for f in findings]


def test_stage_order_becomes_needs_and_needs_lists_win() -> None:
    stages, _ = _import("""
        stages: [build, test, deploy]
        compile: {stage: build, script: [make]}
        lint: {stage: build, script: [lint], needs: []}
        unit: {stage: test, script: [make test]}
        ship: {stage: deploy, script: [ship], needs: [{job: unit, artifacts: true}, compile]}
    """)

    assert {name: s.get("needs") for name, s in stages.items()} == {
        "compile": None,
        "lint": None,
        "unit": ["compile", "lint"],
        "ship": ["unit", "compile"],
    }


def test_before_script_script_and_after_script_run_in_order_and_after_script_is_noted() -> None:
    stages, findings = _import("""
        default:
          image: golang:1.22
          before_script: [echo before]
        job:
          script: [make]
          after_script: [echo after]
    """)

    assert stages["job"]["script"] == ["echo before", "make", "echo after"]
    assert stages["job"]["image"] == "golang:1.22"
    assert (6, "job 'job': after_script runs only when script succeeds") in _messages(findings)


def test_extends_anchors_and_references_resolve_like_gitlab() -> None:
    stages, _ = _import("""
        .vars: &vars {A: "1"}
        .base:
          image: alpine
          variables: {<<: *vars, B: "2"}
          script: [base]
        .setup:
          before_script: [echo setup]
        job:
          extends: .base
          variables: {B: "3"}
          before_script:
            - !reference [.setup, before_script]
            - echo mine
    """)

    assert stages["job"]["image"] == "alpine"
    assert stages["job"]["variables"] == {"A": "1", "B": "3"}
    assert stages["job"]["script"] == ["echo setup", "echo mine", "base"]


def test_rules_on_tags_branches_and_merge_requests_become_when() -> None:
    stages, _ = _import("""
        release:
          script: [release]
          rules: [{if: $CI_COMMIT_TAG}]
        main-only:
          script: [deploy]
          rules: [{if: '$CI_COMMIT_BRANCH == "main"', when: manual}]
        review:
          script: [review]
          rules: [{if: '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    """)

    assert stages["release"]["when"] == {"tags": ["*"]}
    assert stages["main-only"]["when"] == {"manual": True, "branches": ["main"]}
    assert stages["review"]["when"] == {"events": ["merge_request"]}


def test_a_condition_sluice_cannot_test_is_reported_with_its_line() -> None:
    _, findings = _import("""
        job:
          script: [x]
          rules:
            - if: '$CI_PROJECT_PATH == "a/b"'
              changes: [src/**]
    """)

    assert _messages(findings) == [
        (3, "job 'job': no image; Sluice's default image runs it"),
        (5, "job 'job': condition '$CI_PROJECT_PATH == \"a/b\"' is not carried over"),
        (5, "job 'job': rules[].changes is not carried over (no such condition)"),
    ]


def test_when_manual_parallel_matrix_artifacts_retry_and_timeout_carry_over() -> None:
    stages, findings = _import("""
        job:
          image: python:3.12
          script: [pytest]
          when: manual
          parallel:
            matrix:
              - PY: ["3.11", "3.12"]
                OS: linux
          artifacts:
            paths: [dist/]
            expire_in: 1 week
            reports: {junit: report.xml}
          retry: {max: 2, when: [runner_system_failure, script_failure]}
          timeout: 1h 30m
    """)

    job = stages["job"]
    assert job["when"] == {"manual": True}
    assert job["matrix"] == {"PY": ["3.11", "3.12"], "OS": ["linux"]}
    assert job["artifacts"] == {"paths": ["dist/"], "expire_in": "1w"}
    assert job["reports"] == {"junit": "report.xml"}
    assert job["retry"] == {"max": 2, "when": ["infrastructure", "flaky", "deterministic"]}
    assert job["timeout"] == "1h30m"
    assert [f for f in findings if f.severity is Severity.DROPPED] == []


def test_every_key_that_does_not_carry_over_is_reported_never_dropped_silently() -> None:
    _, findings = _import("""
        include: [{remote: 'https://example.com/ci.yml'}]
        job:
          script: [x]
          services: [postgres]
          cache: {paths: [.cache]}
        downstream:
          trigger: {project: a/b}
    """)

    dropped = {m for line, m in _messages(findings)}
    assert (
        "include {'remote': 'https://example.com/ci.yml'} is not fetched: add its jobs here"
        in dropped
    )
    assert "job 'job': services: is not carried over" in dropped
    assert "job 'job': cache: is not carried over" in dropped
    assert "job 'downstream': trigger: is not carried over" in dropped
    assert "job 'downstream' has no script (a trigger or template?); not imported" in dropped


def test_invalid_yaml_is_refused_with_its_line() -> None:
    with pytest.raises(ImportRefused) as caught:
        import_pipeline("job:\n  script: [x\n  image: y\n", name="t")

    assert caught.value.line == 3 and "not valid YAML" in caught.value.message
