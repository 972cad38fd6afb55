"""The orchestration stack of a test module on the real Kafka: its own prefixed topics, a
decider, timers and a stand-in runner in threads, and a watcher of ``sluice.runs``."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from confluent_kafka.admin import AdminClient, NewTopic

from orchestrator.domain import DeadLetter, RunEvent, parse_pipeline
from orchestrator.domain.records import ClaimRefused
from orchestrator.wire import decode_event, decode_record, encode_event
from projections.decider import Decider
from projections.timers import TimerWorker
from schemas.eventlog import TopicNames, consumer, producer
from schemas.settings import ServiceSettings
from schemas.topics import topic_configs, with_prefix
from tests.support.records import read_kept
from tests.support.runs import run_created
from tests.support.standin_runner import Script, StandInRunner
from tests.support.waiting import eventually

__all__ = [
    "RunLog",
    "Stack",
    "create_topics",
    "delete_topics",
    "read_dead_letters",
    "read_runner_notices",
]

T = TypeVar("T")

TERMINAL = {"RunSucceeded", "RunFailed", "RunCancelled", "RunRejected"}


def create_topics(admin: AdminClient, prefix: str) -> list[str]:
    """Every catalogue topic, with ``prefix`` before its name."""
    topics = [
        NewTopic(t.name, t.partitions, 1, config=topic_configs(t)) for t in with_prefix(prefix)
    ]
    for future in admin.create_topics(topics, request_timeout=60).values():
        future.result()
    return [t.topic for t in topics]


def delete_topics(admin: AdminClient, names: list[str]) -> None:
    for future in admin.delete_topics(names, request_timeout=60).values():
        future.result()


@dataclass
class RunLog:
    """Follows ``sluice.runs`` and keeps every event by run, in log order."""

    settings: ServiceSettings
    names: TopicNames
    events: dict[str, list[RunEvent]] = field(default_factory=lambda: defaultdict(list))

    def run(self, stop: threading.Event) -> None:
        c = consumer(self.settings, group=f"watch-{uuid.uuid4().hex}")
        c.subscribe([self.names.runs])
        try:
            while not stop.is_set():
                msg = c.poll(0.05)
                if msg is not None and msg.error() is None:
                    event = decode_event(msg.value() or b"")
                    self.events[event.run_id].append(event)
        finally:
            c.close()

    def names_of(self, run_id: str) -> list[str]:
        return [type(e).__name__ for e in list(self.events.get(run_id, []))]

    def terminal(self, run_id: str, timeout: float = 30) -> str:
        """Wait for the run's terminal event; return its name."""

        def ended() -> str | None:
            return next((n for n in reversed(self.names_of(run_id)) if n in TERMINAL), None)

        return eventually(ended, timeout=timeout, what=f"run {run_id} to end")


@dataclass
class Stack:
    """Decider, timers, stand-in runner and a run watcher, sharing one topic prefix."""

    settings: ServiceSettings
    prefix: str
    runner: StandInRunner = field(init=False)
    log: RunLog = field(init=False)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.names = TopicNames(self.prefix)
        self.runner = StandInRunner(self.settings, self.prefix)
        self.log = RunLog(self.settings, self.names)
        self.decider = Decider(settings=self.settings, prefix=self.prefix, worker_id="t1")
        self.timers = TimerWorker(settings=self.settings, prefix=self.prefix)
        self._out = producer(self.settings)

    def start(self, *, decider: bool = True, timers: bool = True) -> None:
        workers: list[Callable[[threading.Event], None]] = [self.runner.run, self.log.run]
        if timers:
            workers.append(self.timers.run)
        if decider:
            workers.append(self.decider.run)
        for work in workers:
            t = threading.Thread(target=work, args=(self.stop,), daemon=True)
            t.start()
            self.threads.append(t)
        if timers:
            eventually(self.timers.ready.is_set, timeout=60, what="timers to own partitions")
        if decider:
            eventually(self.decider.ready.is_set, timeout=60, what="decider to own partitions")

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def send(self, message: RunEvent) -> None:
        """Send a message to the inbox, as a runner, a person or the trigger processor does."""
        self._out.produce(
            self.names.inbox, key=message.run_id.encode(), value=encode_event(message)
        )
        assert self._out.flush(10) == 0

    def create_run(
        self, pipeline_yaml: str, *, branch: str = "main", script: Script | None = None
    ) -> str:
        """Send a ``RunCreated`` for ``pipeline_yaml`` as the trigger processor would;
        ``script`` tells the stand-in runner what each of the run's jobs does."""
        run_id = uuid.uuid4().hex
        if script is not None:
            self.runner.scripts[run_id] = script
        stages = parse_pipeline(pipeline_yaml).stages
        self.send(run_created(stages, run_id=run_id, branch=branch))
        return run_id


def read_dead_letters(stack: Stack, run_id: str, count: int = 1) -> list[DeadLetter]:
    """The ``DeadLetter`` records of ``run_id`` on the stack's ``sluice.jobs.dead``, read from
    the topic itself (waits until ``count`` of them are there)."""

    def keep(key: bytes, value: bytes) -> DeadLetter | None:
        record = decode_record(value)
        return record if isinstance(record, DeadLetter) and record.job.run_id == run_id else None

    return read_kept(
        stack.settings, stack.names.dead_letters, keep, count, f"dead letter(s) of {run_id}"
    )


def read_runner_notices(
    stack: Stack, run_id: str, count: int
) -> list[tuple[str, RunEvent | ClaimRefused]]:
    """(runner, notice) for the notices of ``run_id`` on the stack's
    ``sluice.runner-notices``, read from the topic itself (waits until ``count`` are there).
    The topic carries run events and ``ClaimRefused``, which is not one."""

    def keep(key: bytes, value: bytes) -> tuple[str, RunEvent | ClaimRefused] | None:
        record = decode_record(value)
        notice = record if isinstance(record, ClaimRefused) else decode_event(value)
        return (key.decode(), notice) if notice.run_id == run_id else None

    return read_kept(
        stack.settings, stack.names.runner_notices, keep, count, f"notices of {run_id}"
    )
