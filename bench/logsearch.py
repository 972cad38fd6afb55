"""Log search over archived lines (``log_lines``, pg_trgm), beside a raw ``grep`` of the same
text in the same run.

Folds N lines of realistic build output (compiler and test lines, a few warnings, rare
errors; 1000 runs of one pipeline, 2 stages each, chunks of ~500 lines cut mid-line as a
runner cuts them) into a fresh schema through the log_lines projection's own handler, writes
the same text to a file, then times, each ``--repeat`` times:

* ``grep -i -F -c NEEDLE file`` (the raw floor: one scan of the text, no index);
* the pipeline-wide search ``GET /pipelines/{id}/logs/search`` runs (``search_pipeline``);
* the run search ``GET /runs/{id}/logs?q=`` runs (``search_run``);

for a rare needle (an error in ~1 line in 100,000) and a commoner one (~1 %), and prints
p50 of each. Goal: search p50 <= 200 ms over 1,000,000 lines.

    .venv/bin/python bench/logsearch.py [--lines 1000000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from orchestrator.api.log_search import search_pipeline, search_run
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from projections.log_lines import write_log_lines
from projections.migrate import migrate
from projections.runner import Event
from schemas.settings import ServiceSettings

RUNS, STAGES, CHUNK_LINES = 1000, ("build", "test"), 500
PIPELINE = "bench-pipe"
NEEDLES = {"rare": "OutOfMemoryError", "common": "deprecated"}
T0 = datetime.now(UTC) - timedelta(days=1)


def line(rng: random.Random, n: int) -> str:
    """One line of build output; ~1 % warnings, ~1 in 100,000 an OutOfMemoryError."""
    roll = rng.random()
    if roll < 0.00001:
        return f"java.lang.OutOfMemoryError: Java heap space at step {n}"
    if roll < 0.01:
        return f"warning: {rng.choice(['os.popen', 'imp', 'asyncore'])} is deprecated (line {n})"
    words = ("compiling", "linking", "PASSED", "collected", "Downloading", "building wheel")
    return f"[{n:08d}] {rng.choice(words)} src/module_{rng.randrange(5000)}.py ok in {n % 97} ms"


def texts(total: int) -> Iterator[tuple[str, str, str]]:
    """(run_id, stage, text) of every stage of every run, ``total`` lines in all."""
    rng, per = random.Random(15), total // (RUNS * len(STAGES))
    n = 0
    for r in range(RUNS):
        for stage in STAGES:
            lines = [line(rng, n + i) for i in range(per)]
            n += per
            yield f"run-{r:05d}", stage, "".join(f"{x}\n" for x in lines)


def chunks(run_id: str, stage: str, text: str, at_ms: int) -> list[Event]:
    """The text in chunks of about CHUNK_LINES lines, cut mid-line, the last one final."""
    size = max(1, len(text) * CHUNK_LINES // max(1, text.count("\n")))
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    return [
        Event(
            LogChunk(
                run_id=run_id,
                stage=stage,
                attempt=1,
                seq=seq,
                stream=LogStream.STDOUT,
                data=data,
                final=seq == len(parts) - 1,
                occurred_at_ms=at_ms,
            ),
            "bench.logs",
            0,
            seq,
        )
        for seq, data in enumerate(parts)
    ]


def load(conn: psycopg.Connection[tuple[object, ...]], total: int, out: Path) -> float:
    """Fold ``total`` lines through the projection's handler (and write them to ``out``)."""
    start = time.perf_counter()
    with out.open("w") as f:
        for i, (run_id, stage, text) in enumerate(texts(total)):
            at = T0 + timedelta(seconds=i)
            if stage == STAGES[0]:
                _run_row(conn, run_id, at)
            with conn.transaction():
                write_log_lines(conn, chunks(run_id, stage, text, int(at.timestamp() * 1000)))
            f.write(text)
    conn.execute("ANALYZE log_lines")
    return time.perf_counter() - start


def _run_row(conn: psycopg.Connection[tuple[object, ...]], run_id: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO pipeline_runs (run_id, pipeline_id, branch, commit_sha, source, priority,"
        " status, created_at) VALUES (%s, %s, 'main', 'abc', 'manual', 'normal', 'success', %s)",
        (run_id, PIPELINE, at),
    )


def p50_ms(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``action`` in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(conn: psycopg.Connection[tuple[object, ...]], path: Path, repeat: int) -> None:
    """Print p50 of grep, the pipeline search and the run search for each needle."""
    for kind, needle in NEEDLES.items():
        print(f"{kind:6} {needle!r}: " + measure_one(conn, path, needle, repeat))


def measure_one(
    conn: psycopg.Connection[tuple[object, ...]], path: Path, needle: str, repeat: int
) -> str:
    """grep's p50 beside both searches' for one needle, as one line."""
    since = T0 - timedelta(days=1)
    grep = ["grep", "-i", "-F", "-c", needle, str(path)]
    hits = int(subprocess.run(grep, capture_output=True, text=True, check=False).stdout)
    floor = p50_ms(lambda: subprocess.run(grep, capture_output=True, check=False), repeat)
    found = search_pipeline(conn, PIPELINE, needle, since=since, limit=500)
    wide = p50_ms(lambda: search_pipeline(conn, PIPELINE, needle, since=since, limit=500), repeat)
    one = p50_ms(lambda: search_run(conn, "run-00500", needle), repeat)
    return (
        f"{hits} lines; grep p50 {floor:.1f} ms; pipeline search p50 {wide:.1f} ms"
        f" ({len(found)} shown, limit 500); run search p50 {one:.1f} ms"
    )


def main() -> int:
    """Load, measure, drop the schema."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    settings = ServiceSettings.from_env()
    schema = f"bench_logs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
        migrate(conn, schema=schema)
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "logs.txt"
                took = load(conn, args.lines, path)
                rows = conn.execute("SELECT count(*) FROM log_lines").fetchone()
                mib = path.stat().st_size / 2**20
                print(f"folded {rows[0] if rows else 0} lines ({mib:.0f} MiB) in {took:.1f} s")
                measure(conn, path, args.repeat)
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
