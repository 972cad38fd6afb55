"""parse_pipeline: the pipeline file, its defaults, matrices, and every validation error."""

from __future__ import annotations

import textwrap

import pytest

from orchestrator.domain import (
    MATRIX_CAP,
    DependencyCycle,
    DuplicateKey,
    DuplicateStage,
    EmptyPipeline,
    FailureClass,
    InvalidDuration,
    InvalidSize,
    InvalidValue,
    MatrixTooLarge,
    MissingKey,
    PipelineError,
    PipelineInvalid,
    PipelineSpec,
    Priority,
    SelfDependency,
    UnknownKey,
    UnknownNeed,
    WrongType,
    YamlSyntaxError,
    parse_pipeline,
)
from orchestrator.domain.model import DEFAULT_IMAGE

DESIGN_EXAMPLE = """\
name: backend-api-ci
stages:
  build:
    image: debian-git:bookworm
    script: ["make build"]
    artifacts: {paths: [dist/], expire_in: 30d}
  unit-tests:
    needs: [build]
    script: ["make test"]
    retry: {max: 2, when: [infrastructure, flaky]}
    reports: {junit: report.xml}
  lint:
    needs: [build]
    script: ["make lint"]
  integration:
    needs: [unit-tests, lint]
    matrix: {python: ["3.10", "3.11"]}
    script: ["make it PY=$python"]
  deploy-staging:
    needs: [integration]
    when: {branch: main}
    deploy:
      environment: staging
      image: 127.0.0.1:5000/backend-api:1.0
      strategy: rolling
      health_check: {path: /healthz}
    secrets: [STAGING_TOKEN]
"""


def parse(text: str) -> PipelineSpec:
    return parse_pipeline(textwrap.dedent(text))


def errors_of(text: str) -> list[PipelineError]:
    with pytest.raises(PipelineInvalid) as caught:
        parse(text)
    return list(caught.value.errors)


def one_error(text: str) -> PipelineError:
    [error] = errors_of(text)
    return error


def test_the_design_example_resolves_to_its_snapshot_in_declaration_order() -> None:
    pipeline = parse_pipeline(DESIGN_EXAMPLE)
    assert [s.name for s in pipeline.stages] == [
        "build",
        "unit-tests",
        "lint",
        "integration [python=3.10]",
        "integration [python=3.11]",
        "deploy-staging",
    ]
    deploy = pipeline.stages[-1]
    assert deploy.needs == ("integration [python=3.10]", "integration [python=3.11]")
    assert deploy.when.branches == ("main",) and deploy.secrets == ("STAGING_TOKEN",)
    assert deploy.deploy is not None and deploy.deploy.health_check_path == "/healthz"


def test_defaults_fill_what_a_stage_leaves_out() -> None:
    [stage] = parse("name: p\nstages:\n  a: {script: [make]}\n").stages
    assert stage.image == DEFAULT_IMAGE
    assert stage.timeout_ms == 3_600_000
    assert (stage.resources.cpus, stage.resources.memory_bytes) == (1.0, 2 * 1024**3)
    assert stage.retry.max == 2 and stage.retry.when == (FailureClass.FLAKY,)
    assert (stage.retry.backoff_base_ms, stage.retry.backoff_factor) == (2_000, 2.0)
    assert stage.retry.backoff_cap_ms == 300_000
    assert stage.artifacts is None and stage.priority is None and not stage.allow_failure


def test_every_key_of_a_stage_is_read() -> None:
    pipeline = parse(
        """
        name: p
        priority: high
        variables: {GLOBAL: g, SHARED: pipeline}
        stages:
          a:
            image: python:3.11
            script: make all
            variables: {SHARED: stage}
            secrets: [TOKEN]
            artifacts: {paths: [out/], expire_in: 1w}
            reports: {junit: junit.xml}
            retry: {max: 3, when: [flaky, deterministic], backoff: {base: 1s, factor: 3, cap: 1m}}
            timeout: 1h30m
            resources: {cpus: 2.5, memory: 512Mi}
            when: {branches: ["release/*"], manual: true}
            priority: critical
            allow_failure: true
            deploy: {environment: prod, image: "app:1", strategy: rolling, replicas: 3}
        """
    )
    [a] = pipeline.stages
    assert pipeline.priority is Priority.HIGH
    assert a.script == ("make all",) and a.image == "python:3.11"
    assert a.variables == {"GLOBAL": "g", "SHARED": "stage"}
    assert a.artifacts is not None and a.artifacts.expire_in_ms == 7 * 86_400_000
    assert a.junit_report == "junit.xml"
    assert (a.retry.max, a.retry.backoff_base_ms, a.retry.backoff_factor) == (3, 1_000, 3.0)
    assert a.retry.backoff_cap_ms == 60_000
    assert a.timeout_ms == 5_400_000
    assert (a.resources.cpus, a.resources.memory_bytes) == (2.5, 512 * 1024**2)
    assert a.when.branches == ("release/*",) and a.when.manual
    assert a.priority is Priority.CRITICAL and a.allow_failure
    assert a.deploy is not None and (a.deploy.strategy, a.deploy.replicas) == ("rolling", 3)


def test_retry_takes_gitlabs_shorthand() -> None:
    [a] = parse("name: p\nstages:\n  a: {script: x, retry: 0}\n").stages
    assert a.retry.max == 0


def test_when_manual_is_a_stage_a_person_plays() -> None:
    [a] = parse("name: p\nstages:\n  a: {script: x, when: manual}\n").stages
    assert a.when is not None and a.when.manual
    assert a.when.branches == ()


def test_a_when_text_other_than_manual_says_what_is_expected() -> None:
    error = one_error("name: p\nstages:\n  a: {script: x, when: always}\n")
    assert error.line == 3


def test_a_matrix_expands_in_order_with_its_combination_as_variables() -> None:
    pipeline = parse(
        """
        name: p
        stages:
          it:
            script: x
            matrix: {python: [3.10, "3.11"], os: [debian, alpine]}
          report: {needs: [it], script: x}
        """
    )
    names = [s.name for s in pipeline.stages]
    assert names[:4] == [
        "it [python=3.10, os=debian]",
        "it [python=3.10, os=alpine]",
        "it [python=3.11, os=debian]",
        "it [python=3.11, os=alpine]",
    ]
    first = pipeline.stages[0]
    assert first.matrix == {"python": "3.10", "os": "debian"}
    assert first.variables == {"python": "3.10", "os": "debian"}
    assert pipeline.stages[-1].needs == tuple(names[:4])


def test_a_stage_may_need_one_expansion_of_a_matrix() -> None:
    pipeline = parse(
        """
        name: p
        stages:
          it: {script: x, matrix: {py: ["3.10", "3.11"]}}
          only: {needs: ["it [py=3.11]"], script: x}
        """
    )
    assert pipeline.stages[-1].needs == ("it [py=3.11]",)


def test_yaml_anchors_and_merge_keys_work() -> None:
    pipeline = parse(
        """
        name: p
        stages:
          a: &base {script: [make], timeout: 10m}
          b:
            <<: *base
            needs: [a]
        """
    )
    assert pipeline.stages[1].timeout_ms == 600_000 and pipeline.stages[1].needs == ("a",)


def test_the_dag_has_levels_of_stages_that_can_run_together() -> None:
    levels = parse_pipeline(DESIGN_EXAMPLE).dag.levels
    assert levels == (
        ("build",),
        ("unit-tests", "lint"),
        ("integration [python=3.10]", "integration [python=3.11]"),
        ("deploy-staging",),
    )


def test_yaml_syntax_errors_say_where() -> None:
    error = one_error("name: p\nstages:\n  a: [unclosed\n")
    assert isinstance(error, YamlSyntaxError) and error.line == 4


def test_an_empty_file_is_an_empty_pipeline() -> None:
    assert isinstance(one_error(""), EmptyPipeline)


def test_a_pipeline_without_stages_is_rejected() -> None:
    assert isinstance(one_error("name: p\nstages: {}\n"), EmptyPipeline)
    assert isinstance(one_error("name: p\n"), EmptyPipeline)


def test_an_unknown_key_suggests_the_one_meant() -> None:
    error = one_error("name: p\nstages:\n  a:\n    script: x\n    neds: [b]\n")
    assert isinstance(error, UnknownKey)
    assert (error.key, error.suggestion, error.line) == ("neds", "needs", 5)


def test_an_unknown_top_level_key_is_rejected() -> None:
    error = one_error("name: p\nstage:\n  a: {script: x}\nstages:\n  a: {script: x}\n")
    assert isinstance(error, UnknownKey) and error.suggestion == "stages"


def test_duplicate_stage_names_are_caught_even_as_duplicate_yaml_keys() -> None:
    error = one_error("name: p\nstages:\n  a: {script: x}\n  a: {script: y}\n")
    assert isinstance(error, DuplicateStage)
    assert (error.name, error.line, error.first_line) == ("a", 4, 3)


def test_a_duplicate_key_inside_a_stage_is_caught() -> None:
    error = one_error("name: p\nstages:\n  a:\n    script: x\n    script: y\n")
    assert isinstance(error, DuplicateKey) and (error.key, error.line) == ("script", 5)


def test_matrix_expansions_that_collide_are_duplicate_stages() -> None:
    error = one_error("name: p\nstages:\n  a: {script: x, matrix: {v: [1, 1]}}\n")
    assert isinstance(error, DuplicateStage) and error.name == "a [v=1]"


def test_a_stage_that_needs_itself_is_rejected() -> None:
    error = one_error("name: p\nstages:\n  a:\n    script: x\n    needs: [a]\n")
    assert isinstance(error, SelfDependency) and (error.stage, error.line) == ("a", 5)


def test_a_stage_that_needs_an_unknown_stage_gets_a_did_you_mean() -> None:
    error = one_error("name: p\nstages:\n  build: {script: x}\n  t: {script: x, needs: [biuld]}\n")
    assert isinstance(error, UnknownNeed)
    assert (error.need, error.suggestion, error.line) == ("biuld", "build", 4)
    assert "did you mean 'build'?" in error.message


def test_a_cycle_is_reported_with_its_path_in_order() -> None:
    error = one_error(
        """
        name: p
        stages:
          a: {script: x, needs: [c]}
          b: {script: x, needs: [a]}
          c: {script: x, needs: [b]}
        """
    )
    assert isinstance(error, DependencyCycle)
    assert error.path == ("a", "c", "b", "a") and "a -> c -> b -> a" in error.message


def test_bad_durations_and_sizes_are_rejected() -> None:
    errors = errors_of(
        "name: p\nstages:\n  a:\n    script: x\n    timeout: soon\n    resources: {memory: lots}\n"
    )
    assert [type(e) for e in errors] == [InvalidDuration, InvalidSize]
    assert [e.line for e in errors] == [5, 6]


def test_a_matrix_over_the_cap_is_rejected() -> None:
    values = ", ".join(str(i) for i in range(17))
    error = one_error(
        f"name: p\nstages:\n  a:\n    script: x\n    matrix: {{x: [{values}], y: [{values}]}}\n"
    )
    assert isinstance(error, MatrixTooLarge)
    assert (error.combinations, error.cap) == (289, MATRIX_CAP)


def test_wrong_types_are_named() -> None:
    error = one_error("name: p\nstages:\n  a:\n    script: x\n    needs: {b: 1}\n")
    assert isinstance(error, WrongType) and error.expected == "a list of strings"
    assert error.got == "a mapping"


def test_a_stage_must_have_a_script_or_a_deploy() -> None:
    error = one_error("name: p\nstages:\n  a: {image: x}\n")
    assert isinstance(error, MissingKey) and error.key == "script" and error.line == 3


def test_values_outside_their_vocabulary_are_rejected() -> None:
    errors = errors_of(
        """
        name: p
        stages:
          a:
            script: x
            priority: urgent
            retry: {max: 11, when: [flakey]}
            deploy: {environment: e, image: app, strategy: yolo}
        """
    )
    assert [type(e) for e in errors] == [InvalidValue] * 4


def test_several_errors_are_reported_together_in_file_order() -> None:
    errors = errors_of(
        """
        name: p
        stages:
          a: {script: x, timeout: 5q}
          b: {script: x, needs: [zz]}
          c: {scrip: x}
        """
    )
    assert [e.line for e in errors] == sorted(e.line or 0 for e in errors)
    assert {type(e) for e in errors} >= {InvalidDuration, UnknownNeed, UnknownKey}


def test_an_error_renders_like_a_compiler_message() -> None:
    error = one_error("name: p\nstages:\n  a: {script: x, needs: [a]}\n")
    assert (
        error.located("ci.yaml") == "ci.yaml:3: stage 'a' needs itself: remove it from its 'needs'"
    )
