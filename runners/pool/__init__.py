"""``sluice pool``: the worker manager of one host.

* :mod:`runners.pool.manager` — the loop: observe, call the pure policy
  (:mod:`orchestrator.domain.pool_policy`), act, record on ``sluice.fleet``;
* :mod:`runners.pool.queue` — waiting jobs per priority, and each new job at once;
* :mod:`runners.pool.processes` — the runner processes (start, drain, kill, reap);
* :mod:`runners.pool.warm` — the host's image cache, kept warm;
* :mod:`runners.pool.fleetlog` — appending and reading ``sluice.fleet``.
"""
