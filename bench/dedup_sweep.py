"""The trigger processor's dedup sweeps: CPU a second at a steady trigger rate, old and new.

The trigger processor's table holds each dedup key for 10 minutes of event time, and every
500 answers of a partition a sweep deletes that partition's old keys. This bench fills a
table as a steady rate R would (600·R keys: 10 minutes of triggers, each a new key), then:
  * the sweep as it was: every key of the table read and hashed with murmur2 to keep its
    partition's (timed over 3 sweeps; R/500 sweeps a second);
  * :class:`projections.dedup_forgetting.ForgetOrder`, driven trigger by trigger for 2 more
    minutes of event time at R, every sweep timed (its periodic rescans included);
beside the floor: one table write a trigger (a dict set), measured in the same run.
In-process, no Kafka or faust: the sweeps' own CPU, which runs on the processor's event loop.
Run: .venv/bin/python bench/dedup_sweep.py [--rates 50 150 400]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projections.dedup import FORGET_AFTER_MS, forgettable
from projections.dedup_forgetting import ForgetOrder, entry_of
from projections.triggers import SWEEP_EVERY
from schemas.eventlog import partition_for
from schemas.topics import TRIGGERS

P = TRIGGERS.partitions


def key_of(i: int) -> str:
    return f"pipeline-{i % 50}|feature/branch-{i}|{i:040x}"


def filled(rate: int) -> tuple[dict[str, dict[str, Any]], ForgetOrder, int]:
    """A table and its order as 10 minutes at ``rate`` leave them; the next trigger's index."""
    rows: dict[str, dict[str, Any]] = {}
    order = ForgetOrder(lambda key: partition_for(key, P))
    n = FORGET_AFTER_MS * rate // 1000
    for i in range(n):
        key, at = key_of(i), i * 1000 // rate
        rows[key] = {"run_id": f"run-{i}", "requested_at_ms": at}
        order.remembered(partition_for(key, P), key, entry_of(rows[key]))
    return rows, order, n


def old_sweep(rows: dict[str, dict[str, Any]], partition: int, now_ms: int) -> list[str]:
    return [
        key
        for key, row in rows.items()
        if partition_for(key, P) == partition and forgettable(entry_of(row), now_ms)
    ]


def measure(rate: int) -> None:
    rows, order, start = filled(rate)
    now = start * 1000 // rate
    t0 = time.process_time()
    for partition in range(3):
        old_sweep(rows, partition, now)
    old_per_sweep = (time.process_time() - t0) / 3
    sweeps_a_second = rate / SWEEP_EVERY

    answers: Counter[int] = Counter()
    swept = 0.0
    written = 0.0
    sweeps = forgotten = 0
    for i in range(start, start + 120 * rate):
        key, at = key_of(i), i * 1000 // rate
        partition = partition_for(key, P)
        w0 = time.process_time()
        rows[key] = {"run_id": f"run-{i}", "requested_at_ms": at}
        written += time.process_time() - w0
        s0 = time.process_time()
        order.remembered(partition, key, entry_of(rows[key]))
        answers[partition] += 1
        if answers[partition] % SWEEP_EVERY == 0:
            for old in order.sweep(rows, partition, at):
                rows.pop(old, None)
                forgotten += 1
            sweeps += 1
        swept += time.process_time() - s0
    per_trigger_ms = swept * 1000 / (120 * rate)
    print(f"  {rate:>4} triggers/s, {len(rows):>7,} keys held:")
    print(
        f"    the sweep as it was: {old_per_sweep * 1000:8.1f} ms a sweep, {sweeps_a_second:.2f}"
        f" sweeps/s -> {old_per_sweep * sweeps_a_second * 1000:7.1f} ms of CPU a second"
        f" ({old_per_sweep * sweeps_a_second * 100:.1f} % of a core)"
    )
    print(
        f"    ForgetOrder:         {sweeps} sweeps, {forgotten:,} keys forgotten,"
        f" {per_trigger_ms * 1000:.2f} us a trigger -> {per_trigger_ms * rate:7.1f} ms of CPU"
        f" a second"
    )
    print(f"    floor, one table write a trigger: {written * 1e6 / (120 * rate):.2f} us")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 150, 400])
    opts = parser.parse_args()
    print("bench/dedup_sweep.py: the trigger processor's dedup sweeps, in-process (no Kafka)")
    for rate in opts.rates:
        measure(rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
