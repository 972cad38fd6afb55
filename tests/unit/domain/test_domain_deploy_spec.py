"""The deploy: keys: defaults, bad combinations with their lines, and invariant 8 in decide."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from orchestrator.domain import DeploySpec, PipelineInvalid, parse_pipeline
from orchestrator.domain.errors import ConflictingKeys, InvalidValue, MissingKey, PipelineError
from tests.unit.domain.domain_helpers import Driver, spec


def errors_of(text: str) -> list[PipelineError]:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(textwrap.dedent(text))
    return list(caught.value.errors)


def test_every_deploy_key_is_read_with_its_default_filled_in() -> None:
    [stage] = parse_pipeline(
        textwrap.dedent(
            """
            name: p
            stages:
              ship:
                deploy:
                  environment: staging
                  image: 127.0.0.1:5000/app:v2
                  port: 9000
                  replicas: 3
                  health_check: {path: /healthz, interval: 500ms, healthy_deadline: 20s}
                  max_surge: 2
            """
        )
    ).stages
    d = stage.deploy
    assert d is not None and (d.environment, d.image, d.port, d.replicas) == (
        "staging",
        "127.0.0.1:5000/app:v2",
        9000,
        3,
    )
    assert (d.health_check_path, d.health_check_interval_ms, d.healthy_deadline_ms) == (
        "/healthz",
        500,
        20_000,
    )
    assert (d.strategy, d.max_surge, d.max_unavailable) == ("rolling", 2, 0)


def test_a_deploy_without_an_image_is_an_error_not_a_no_op() -> None:
    [error] = errors_of(
        """
        name: p
        stages:
          ship:
            deploy: {environment: staging}
        """
    )
    assert isinstance(error, MissingKey) and error.key == "image" and error.line == 5


def test_canary_keys_on_a_rolling_deploy_are_refused_on_their_line() -> None:
    errors = errors_of(
        """
        name: p
        stages:
          ship:
            deploy:
              environment: staging
              image: app
              scale_down_delay: 30s
              steps: [{weight: 5, pause: 30s}]
        """
    )
    assert [(type(e), e.line) for e in errors] == [(ConflictingKeys, 8), (ConflictingKeys, 9)]


def test_rolling_with_no_surge_and_no_unavailability_could_never_move() -> None:
    [error] = errors_of(
        """
        name: p
        stages:
          ship:
            deploy: {environment: e, image: app, max_surge: 0}
        """
    )
    assert isinstance(error, ConflictingKeys) and "both be 0" in error.message


def test_a_blue_green_deploy_reads_its_scale_down_delay() -> None:
    [stage] = parse_pipeline(
        textwrap.dedent(
            """
            name: p
            stages:
              ship:
                deploy: {environment: e, image: app, strategy: blue-green, scale_down_delay: 5m}
            """
        )
    ).stages
    assert stage.deploy is not None and stage.deploy.scale_down_delay_ms == 300_000


def test_an_environment_name_haproxy_cannot_carry_is_refused() -> None:
    [error] = errors_of(
        """
        name: p
        stages:
          ship:
            deploy: {environment: "Staging EU", image: app}
        """
    )
    assert isinstance(error, InvalidValue) and error.line == 5


def test_a_deploy_stage_reported_green_without_a_deployment_is_refused() -> None:
    run = Driver([replace(spec("ship"), deploy=DeploySpec(environment="staging", image="app"))])
    run.claim("ship")
    decision = run.succeed("ship")
    assert decision.events == () and "no DeploymentSucceeded" in (decision.ignored_reason or "")
    run.deployed("ship")
    assert [type(e).__name__ for e in run.succeed("ship").events][:2] == [
        "StageSucceeded",
        "RunSucceeded",
    ]


def test_a_canary_with_steps_and_analysis_is_read() -> None:
    [stage] = parse_pipeline(
        textwrap.dedent(
            """
            name: p
            stages:
              ship:
                deploy:
                  environment: prod
                  image: app
                  strategy: canary
                  steps: [{weight: 10, pause: 20s}, {weight: 50, pause: 1m}]
                  analysis: {max_error_rate: 0.05, min_requests: 40}
            """
        )
    ).stages
    d = stage.deploy
    assert d is not None and [(s.weight, s.pause_ms) for s in d.canary_steps] == [
        (10, 20_000),
        (50, 60_000),
    ]
    assert d.analysis is not None and (d.analysis.max_error_rate, d.analysis.min_requests) == (
        0.05,
        40,
    )


def test_a_p95_limit_is_refused_because_haproxy_keeps_no_percentile() -> None:
    [error] = errors_of(
        """
        name: p
        stages:
          ship:
            deploy:
              environment: e
              image: app
              strategy: canary
              steps: [{weight: 10, pause: 20s}]
              analysis: {max_p95_ms: 300}
        """
    )
    assert isinstance(error, ConflictingKeys) and error.line == 10


def test_a_canary_step_may_pause_until_a_person_promotes_it() -> None:
    [stage] = parse_pipeline(
        textwrap.dedent(
            """
            name: p
            stages:
              ship:
                deploy:
                  environment: prod
                  image: app
                  strategy: canary
                  steps: [{weight: 10, pause: 20s}, {weight: 50, pause: manual}]
            """
        )
    ).stages
    d = stage.deploy
    assert d is not None and [s.manual for s in d.canary_steps] == [False, True]


def test_a_canary_pause_that_is_neither_a_duration_nor_manual_is_refused() -> None:
    [error] = errors_of(
        """
        name: p
        stages:
          ship:
            deploy:
              environment: prod
              image: app
              strategy: canary
              steps: [{weight: 10, pause: later}]
        """
    )
    assert error.line == 9 and "steps.pause" in str(error)
