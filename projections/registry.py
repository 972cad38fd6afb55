"""Every read model folded from the log, in one list.

``sluice processor projection`` runs each of :data:`REGISTERED` (in threads of one process,
a runner per group of :data:`RUNNERS`) and ``sluice replay --verify`` rebuilds and compares
each. A new
read model is one line here (see :mod:`projections.runner` for the handler and migration).
The notifier's outbox runs on the same runner but is not listed: its rows are changed by
the sender after they are written, so it is no pure fold to compare.
"""

from __future__ import annotations

import threading

from projections.audit_trail import AUDIT_TRAIL
from projections.dead_letters import DEAD_LETTERS
from projections.environments import ENVIRONMENTS
from projections.junit_outcomes import TEST_OUTCOMES
from projections.log_lines import LOG_LINES
from projections.projector import READ_MODEL
from projections.request_aliases import REQUEST_ALIASES
from projections.runner import Projection, ProjectionRunner
from schemas.settings import ServiceSettings
from schemas.topics import LOGS, RUNS

__all__ = ["REGISTERED", "RUNNERS", "run_all"]

REGISTERED: tuple[Projection, ...] = (
    READ_MODEL,
    ENVIRONMENTS,
    AUDIT_TRAIL,
    LOG_LINES,
    DEAD_LETTERS,
    TEST_OUTCOMES,
    REQUEST_ALIASES,
)

# The read models of sluice.runs share one consumer, so the broker sends each event once, not
# once a read model, and one transaction a batch. The log lines' sluice.logs has its own: a
# burst of logs must not hold back the runs' rows, which a GET right after a trigger waits for.
RUNNERS: tuple[tuple[Projection, ...], ...] = (
    (READ_MODEL, ENVIRONMENTS, DEAD_LETTERS, REQUEST_ALIASES, LOG_LINES.part(RUNS.name)),
    (LOG_LINES.part(LOGS.name),),
    (AUDIT_TRAIL,),
    (TEST_OUTCOMES,),
)


def run_all(
    settings: ServiceSettings, *, prefix: str = "", schema: str = "public", stop: threading.Event
) -> None:
    """Run every registered projection until ``stop`` is set; the first error ends them all."""
    errors: list[BaseException] = []
    done = threading.Event()  # ours: an error here must not stop the caller's other work

    def serve(first: Projection, *also: Projection) -> None:
        try:
            ProjectionRunner(first, settings, prefix=prefix, schema=schema, also=also).run(done)
        except BaseException as e:
            errors.append(e)
            done.set()

    threads = [
        threading.Thread(target=serve, args=group, name=f"projection-{group[0].name}")
        for group in RUNNERS
    ]
    for t in threads:
        t.start()
    while not (stop.wait(0.2) or done.is_set()):
        pass
    done.set()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
