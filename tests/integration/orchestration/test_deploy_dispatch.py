"""Deploy stages reach the deployer's topic, never a runner (invariant 8)."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Message

from orchestrator.wire import decode_record
from schemas.eventlog import consumer
from tests.support.stack import Stack
from tests.support.waiting import eventually

BUILD_THEN_DEPLOY = """
name: ship
stages:
  build: {script: ["make"]}
  deploy-staging:
    needs: [build]
    deploy: {environment: staging, image: "127.0.0.1:5000/app:v1"}
"""


def test_a_deploy_stage_goes_to_the_deploy_topic_keyed_by_environment(stack: Stack) -> None:
    run_id = stack.create_run(BUILD_THEN_DEPLOY)
    c = consumer(stack.settings, group=f"watch-{uuid.uuid4().hex}")
    c.subscribe([stack.names.deploy_jobs])
    try:
        msg = eventually(lambda: _next_message(c), timeout=30, what="a deploy job")
    finally:
        c.close()
    job = decode_record(msg.value() or b"")
    assert (job.run_id, job.stage.name, msg.key()) == (run_id, "deploy-staging", b"staging")


def test_no_runner_takes_a_deploy_stage_so_it_never_goes_green(stack: Stack) -> None:
    run_id = stack.create_run(BUILD_THEN_DEPLOY)

    def deploy_queued() -> bool:
        return any(
            type(e).__name__ == "StageQueued" and getattr(e, "stage", "") == "deploy-staging"
            for e in list(stack.log.events.get(run_id, []))
        )

    eventually(deploy_queued, timeout=30, what="the deploy stage to be queued after build")
    taken = [j.stage.name for j in stack.runner.taken if j.run_id == run_id]
    names = stack.log.names_of(run_id)
    assert taken == ["build"]
    assert names.count("StageSucceeded") == 1 and "RunSucceeded" not in names


def _next_message(c: Consumer) -> Message | None:
    msg = c.poll(0.2)
    return msg if msg is not None and msg.error() is None else None
