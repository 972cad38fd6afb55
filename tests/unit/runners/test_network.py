"""Which stages get a network: ``network: true``, deploys and image builds; the old variable."""

from __future__ import annotations

from orchestrator.domain import parse_pipeline
from orchestrator.domain.jobs import Job
from runners.inputs import build_args, deprecated_network_variable, needs_network
from tests.support.jobs import a_job


def _stages(text: str) -> dict[str, Job]:
    return {s.name: a_job(s) for s in parse_pipeline(text).stages}


def test_only_stages_that_ask_get_a_network() -> None:
    jobs = _stages(
        "name: n\nstages:\n"
        "  plain: {script: [x]}\n"
        "  online: {script: [x], network: true}\n"
        "  image: {build_image: {name: app}}\n"
    )

    assert {name: needs_network(job) for name, job in jobs.items()} == {
        "plain": False,
        "online": True,
        "image": True,
    }


def test_the_old_variable_still_works_and_is_noticed() -> None:
    job = _stages("name: n\nstages:\n  a: {script: [x], variables: {SLUICE_NETWORK: 'true'}}\n")[
        "a"
    ]

    assert needs_network(job)
    assert deprecated_network_variable(job)


def test_build_args_take_only_the_stages_secret_values() -> None:
    args = {"TOKEN": "${{ secrets.NPM_TOKEN }}", "PLAIN": "x", "OTHER": "${{ secrets.NOPE }}"}

    assert build_args(args, {"NPM_TOKEN": "s3cr3t"}) == {
        "TOKEN": "s3cr3t",
        "PLAIN": "x",
        "OTHER": "",
    }
