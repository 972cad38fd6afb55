"""A pool's process for tests that kill it: starts one runner (simulated executor), prints
its pid and status file, then waits to be killed.

Run: python -m tests.support.pool_child WORK_DIR TOPIC_PREFIX (the runner takes this
process's environment).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from runners.pool.processes import RunnerProcesses


def main() -> None:
    work_dir, prefix = Path(sys.argv[1]), sys.argv[2]
    pool = RunnerProcesses(work_dir=work_dir, prefix=prefix, simulated=True, env=os.environ)
    runner = pool.start(slots=1, now_ms=0)
    print(runner.pid, runner.status_file, flush=True)
    time.sleep(3600)


if __name__ == "__main__":  # a forked runner imports this module again
    main()
