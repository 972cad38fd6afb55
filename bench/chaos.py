"""The chaos suite at length: runs flow through the API into ``sluice processors`` and a
``sluice runner`` on the three-broker cluster of ``infra/kafka-chaos`` while brokers, the
processors and the runner are killed with SIGKILL at random moments (a broker comes back
a few seconds later). It prints what was lost and doubled, and how long progress stopped:

* lost: acknowledged runs (API 201/202) the log never shows; stuck: runs it shows that had
  not ended when the bench stopped waiting; failed: runs that ended other than succeeded;
* doubled: a stage attempt dispatched twice, or a stage that succeeded twice;
* interruption: the longest time without any new event on ``sluice.runs`` after each kill,
  beside the floor: the longest such gap of the same load before any kill (stages take
  time, so the log is never continuously busy).

It asserts nothing about time; tests/chaos checks correctness in CI.

    .venv/bin/python bench/chaos.py [--runs 1000] [--pace 0.25] [--seed 1] [--slots 3]
        [--simulated-containers]

This machine has two cores: 1,000 runs of two real container stages each take longer than
a session. ``--simulated-containers`` starts the runner with the simulated executor
(runners/simulated.py: a stage sleeps for its script's declared time instead of running a
container); everything else — brokers, processors, API, runner intake, claims and reports —
is real, and the output says the containers were simulated.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runners.simulated import SIMULATION_FLAG
from tests.support.chaos import ChaosCluster, ChaosDeployment, Feeder, RunWatch, coordinators

FAULTS = ("broker", "processors", "runner", "api")


def inject(chaos: ChaosDeployment, fault: str, rng: random.Random) -> tuple[str, float]:
    """One fault; what it was and when it struck."""
    if fault == "broker":
        node = rng.choice([1, 2, 3])
        killed = chaos.cluster.kill(node)
        time.sleep(rng.uniform(3, 8))
        chaos.cluster.start(node)
        return f"broker {node}", killed
    killed = chaos.kill(fault)
    chaos.start(fault)
    return fault, killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between triggers")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between faults")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slots", type=int, default=3, help="the runner's slots")
    parser.add_argument(
        "--simulated-containers",
        action="store_true",
        help="the runner sleeps instead of running containers (said in the output)",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cluster = ChaosCluster()
    cluster.up(fresh=True)
    with tempfile.TemporaryDirectory() as tmp:
        simulated = (SIMULATION_FLAG,) if args.simulated_containers else ()
        chaos = ChaosDeployment(
            cluster, Path(tmp), runner_args=("--slots", str(args.slots), *simulated)
        )
        if simulated:
            print("SIMULATED containers: the runner's stages sleep (runners/simulated.py)")
        chaos.create()
        try:
            chaos.start_all()
            report(chaos, rng, args)
        finally:
            chaos.destroy()
            cluster.remove()


def report(chaos: ChaosDeployment, rng: random.Random, args: argparse.Namespace) -> None:
    watch = RunWatch(chaos.settings, chaos.names)
    watch.start()
    feeder = Feeder(chaos, chaos.commits(args.runs), pace_s=args.pace)
    feeder.start()
    calm_start = time.monotonic()
    time.sleep(args.every)
    floor = watch.longest_gap(calm_start, time.monotonic())
    print(f"coordinators of the decider: {dict(coordinators(chaos))}")
    faults: list[tuple[str, float]] = []
    while feeder.thread is not None and feeder.thread.is_alive():
        faults.append(inject(chaos, rng.choice(FAULTS), rng))
        time.sleep(rng.uniform(0.5, 1.5) * args.every)
    ends = [*(t for _, t in faults[1:]), time.monotonic()]
    print(f"floor: longest gap without progress before any fault: {floor:.1f} s")
    print("| fault (kill -9) | longest gap without progress after it |")
    print("| --- | --- |")
    for (what, at), until in zip(faults, ends, strict=True):
        print(f"| {what} | {watch.longest_gap(at, min(until, at + 60)):.1f} s |")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not all(watch.ended(r) for r in feeder.accepted):
        time.sleep(1)
    verdict = chaos.verdict(watch, feeder.accepted)
    print(
        f"runs acknowledged: {verdict.accepted} of {args.runs} "
        f"({verdict.deduplicated} of them a 202 for a request that repeated another run), "
        f"refused answers (status: count): {dict(Counter(feeder.refused))}; "
        f"lost: {verdict.lost}; stuck (not ended after the wait): {verdict.stuck}; "
        f"failed: {len(verdict.failed)}; doubled: {verdict.doubled}"
    )
    try:
        chaos.wait_read_model(watch.resolved(feeder.accepted))
    except AssertionError as e:
        print(f"read model: {e}")
    replay = chaos.replay_verify()
    print(f"sluice replay --verify: {'identical' if replay.returncode == 0 else 'DIFFERENT'}")
    watch.stop.set()


if __name__ == "__main__":
    main()
