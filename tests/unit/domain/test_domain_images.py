"""The ``network`` and ``build_image`` stage keys and ``${{ images.NAME }}`` references."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain import ImageBuilt, PipelineInvalid, parse_pipeline
from orchestrator.domain.images import branch_tag, built_image_name, resolve_image
from tests.unit.domain.domain_helpers import Driver, spec

BUILD_THEN_RUN = """
name: images
stages:
  image:
    build_image:
      name: app
      dockerfile: docker/Dockerfile
      build_args: {VERSION: "1.2"}
  use:
    needs: [image]
    image: ${{ images.app }}
    script: [app --version]
"""


def _errors(text: str) -> list[str]:
    return [message for _, message in _located(text)]


def _located(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(text)
    return [(e.line, str(e)) for e in caught.value.errors]


def test_network_defaults_to_off_and_can_be_turned_on() -> None:
    spec = parse_pipeline(
        "name: n\nstages:\n  a: {script: [x]}\n  b: {script: [x], network: true}\n"
    )

    assert [s.network for s in spec.stages] == [False, True]


def test_a_network_that_is_not_a_boolean_is_an_error_on_its_line() -> None:
    errors = _located("name: n\nstages:\n  a:\n    script: [x]\n    network: maybe\n")

    assert len(errors) == 1
    assert errors[0][0] == 5
    assert "network" in errors[0][1]


def test_a_build_stage_carries_its_build_and_has_network() -> None:
    image, use = parse_pipeline(BUILD_THEN_RUN).stages

    assert image.build_image is not None
    assert (image.build_image.name, image.build_image.context) == ("app", ".")
    assert image.build_image.dockerfile == "docker/Dockerfile"
    assert image.build_image.build_args == {"VERSION": "1.2"}
    assert image.network is True
    assert use.image == "${{ images.app }}"


def test_a_build_stage_with_a_script_is_an_error() -> None:
    errors = _errors("name: n\nstages:\n  a:\n    build_image: {name: app}\n    script: [x]\n")

    assert any("no script in a build_image stage" in e for e in errors)


def test_an_image_reference_needs_the_stage_that_builds_it() -> None:
    text = BUILD_THEN_RUN.replace("    needs: [image]\n", "")

    errors = _located(text)

    assert len(errors) == 1
    assert errors[0][0] == 9  # the stage's line
    assert "stage 'use' image" in errors[0][1]


def test_a_build_arg_may_use_only_declared_secrets() -> None:
    text = "name: n\nstages:\n  a:\n    build_image:\n      name: app\n"
    undeclared = text + "      build_args: {TOKEN: '${{ secrets.NPM_TOKEN }}'}\n"
    declared = undeclared + "    secrets: [NPM_TOKEN]\n"

    assert any("add NPM_TOKEN" in e for e in _errors(undeclared))
    assert parse_pipeline(declared).stages[0].secrets == ("NPM_TOKEN",)


@pytest.mark.parametrize("name", ["App", "app:1", "-app", "a..b"])
def test_an_unusable_image_name_is_an_error(name: str) -> None:
    errors = _errors(f"name: n\nstages:\n  a:\n    build_image: {{name: '{name}'}}\n")

    assert any("build_image.name" in e for e in errors)


def test_a_context_outside_the_repository_is_an_error() -> None:
    errors = _errors("name: n\nstages:\n  a:\n    build_image: {name: app, context: ../x}\n")

    assert any("inside the repository" in e for e in errors)


def test_an_image_reference_resolves_to_the_commit_tag() -> None:
    assert built_image_name("${{images.app}}") == "app"
    assert resolve_image("${{ images.app }}", "abc123") == "app:abc123"
    assert resolve_image("python:3.11", "abc123") == "python:3.11"


@given(st.text(min_size=1, max_size=300))
def test_every_branch_becomes_a_valid_image_tag(branch: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", branch_tag(branch))


def _built(run: Driver, stage: str, attempt: int = 1) -> ImageBuilt:
    return ImageBuilt(
        run_id="run-1",
        occurred_at_ms=run.tick(),
        stage=stage,
        attempt=attempt,
        name="app",
        tag="127.0.0.1:5000/app:abc",
        digest="sha256:00",
        size_bytes=7,
    )


def test_an_image_built_is_appended_to_the_stage_once() -> None:
    run = Driver([spec("a")])
    built = _built(run, "a")

    assert run.send(built).events == (built,)
    assert run.run.stage("a").images == (built,)
    assert run.send(built).events == ()


def test_an_image_built_by_an_attempt_never_dispatched_is_ignored() -> None:
    run = Driver([spec("a"), spec("b", "a")])

    assert run.send(_built(run, "b")).ignored_reason == (
        "attempt 1 of stage 'b' was never dispatched"
    )


BUILD_THEN_DEPLOY = """
name: ship
stages:
  image:
    build_image: {name: app}
  deploy:
    needs: [image]
    deploy: {environment: staging, image: "${{ images.app }}", port: 8000}
"""


def test_a_deploy_may_ship_the_image_a_stage_it_needs_built() -> None:
    [_, deploy] = parse_pipeline(BUILD_THEN_DEPLOY).stages

    assert deploy.deploy is not None
    assert built_image_name(deploy.deploy.image or "") == "app"


def test_a_deploy_of_an_image_no_needed_stage_builds_is_an_error() -> None:
    errors = _errors(BUILD_THEN_DEPLOY.replace("    needs: [image]\n", ""))

    assert len(errors) == 1
    assert "stage 'deploy' deploy.image" in errors[0]
