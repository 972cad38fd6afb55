"""A very verbose stage (100 MB of output) loses no line and keeps chunks ordered and small."""

from __future__ import annotations

import hashlib

from orchestrator.domain.events import LogArchived, StageSucceeded
from orchestrator.domain.model import StageSpec
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from runners.logs import MAX_CHUNK_BYTES
from tests.integration.runners.conftest import Rig
from tests.support.waiting import eventually

LINES = 12_500_000  # `seq` prints about 100 MB


def test_100_mb_of_output_arrives_whole_in_ordered_capped_chunks(rig: Rig) -> None:
    inbox, logs = rig.read(rig.topics.inbox), rig.read(rig.topics.logs)
    rig.start()
    job = rig.job(StageSpec(name="chatty", script=(f"seq 1 {LINES}",)))
    rig.send(job)
    eventually(lambda: inbox.of(StageSucceeded, run_id=job.run_id), timeout=90, what="success")
    [archived] = eventually(lambda: inbox.of(LogArchived, run_id=job.run_id), what="archive")
    eventually(lambda: logs.of(LogChunk, final=True), timeout=30, what="the final chunk")
    chunks = logs.of(LogChunk)
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert max(len(c.data.encode()) for c in chunks) <= MAX_CHUNK_BYTES
    digest = hashlib.sha256()
    for chunk in chunks:
        if chunk.stream == LogStream.STDOUT:
            digest.update(chunk.data.encode())
    expected = hashlib.sha256("".join(f"{i}\n" for i in range(1, LINES + 1)).encode())
    assert digest.hexdigest() == expected.hexdigest()
    assert archived.lines == LINES + 3  # and the runner's first, image and last lines
