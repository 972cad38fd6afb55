"""Every Prometheus metric Sluice exports, defined once so names and labels never drift.

Each process imports the metrics it updates from here and calls :func:`serve_metrics` once
at start-up with its own port (processors 9400-9403, runners 9404, the API serves
``/metrics`` itself on 8080; see ``infra/prometheus/targets.json``). Dashboards in
``infra/grafana/`` and alert rules in ``infra/prometheus/rules/`` query these names.

Label values are closed vocabularies (statuses, priorities, failure classes, processor
names, routes as templates): never an id, never anything a user typed, so cardinality stays
bounded and no secret can reach Prometheus.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server

from schemas.errors import InfrastructureError

__all__ = [
    "API_REQUEST_SECONDS",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "DEAD_LETTER_QUEUE",
    "DECIDER_DECISION_SECONDS",
    "DECIDER_EVENTS",
    "DECIDER_IGNORED",
    "DECIDER_JOBS",
    "DECIDER_MALFORMED",
    "NOTIFICATION_DELIVERIES",
    "NOTIFICATION_PENDING",
    "POOL_DECISIONS",
    "POOL_DESIRED_RUNNERS",
    "POOL_FLOOR_SLOTS",
    "POOL_RUNNERS",
    "POOL_RUNNER_STARTS",
    "POOL_SLOTS",
    "PROCESSOR_EVENTS",
    "PROJECTION_LAG",
    "QUEUE_DEPTH",
    "QUEUE_SECONDS",
    "RETRIES",
    "RUNNER_SLOTS_BUSY",
    "RUNNER_SLOTS_FREE",
    "RUNS",
    "STAGE_SECONDS",
    "STAGE_START_SECONDS",
    "TIMER_FIRED",
    "TIMER_SKIPPED",
    "MetricsPortInUse",
    "serve_metrics",
]

# Stage durations run from a no-op (~1 s) to long builds; queue time is judged against 30 s.
_STAGE_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_QUEUE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

API_REQUEST_SECONDS = Histogram(
    "sluice_api_request_seconds",
    "HTTP API request latency, by route template, method and response status.",
    ["route", "method", "status"],
    buckets=_FAST_BUCKETS,
)

RUNS = Counter(
    "sluice_runs",
    "Runs that reached a status (created, started, succeeded, failed, cancelled, rejected).",
    ["status"],
)
STAGE_SECONDS = Histogram(
    "sluice_stage_duration_seconds",
    "Duration of a finished stage attempt, by outcome (succeeded, failed, cancelled).",
    ["outcome"],
    buckets=_STAGE_BUCKETS,
)
STAGE_START_SECONDS = Histogram(
    "sluice_stage_start_seconds",
    "From a claimed stage's image lookup to its container started, by whether the image was "
    "already on the runner's host (warm) or had to be pulled (cold).",
    ["image"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 120),
)
QUEUE_SECONDS = Histogram(
    "sluice_queue_seconds",
    "Time a stage attempt waited from queued (job enqueued) to claimed by a runner.",
    ["priority"],
    buckets=_QUEUE_BUCKETS,
)
RETRIES = Counter(
    "sluice_stage_retries",
    "Stage retries scheduled, by the failure class that caused them.",
    ["failure_class"],
)
DEAD_LETTERS = Counter(
    "sluice_dead_letters",
    "Stage attempts sent to the dead-letter topic after repeated infrastructure failures.",
)

DEAD_LETTER_QUEUE = Gauge(
    "sluice_dead_letter_queue_messages",
    "Messages held on sluice.jobs.dead (the dead-letter queue), over every partition.",
)
QUEUE_DEPTH = Gauge(
    "sluice_queue_depth",
    "Job messages on a priority topic not yet consumed by the runners' group.",
    ["priority"],
)
CONSUMER_LAG = Gauge(
    "sluice_consumer_lag",
    "Messages a consumer group is behind the head of a topic (summed over partitions).",
    ["group", "topic"],
)

RUNNER_SLOTS_BUSY = Gauge("sluice_runner_slots_busy", "Stage slots running a stage.", ["runner"])
RUNNER_SLOTS_FREE = Gauge("sluice_runner_slots_free", "Stage slots free for work.", ["runner"])

POOL_RUNNERS = Gauge(
    "sluice_pool_runners", "Runner processes of the pool, by phase.", ["pool", "phase"]
)
POOL_DESIRED_RUNNERS = Gauge(
    "sluice_pool_desired_runners", "Runners the pool's last decision wants.", ["pool"]
)
POOL_FLOOR_SLOTS = Gauge(
    "sluice_pool_floor_slots", "Idle slots the period in force keeps on top of demand.", ["pool"]
)
POOL_SLOTS = Gauge(
    "sluice_pool_slots", "Stage slots of the pool's runners, busy or free.", ["pool", "state"]
)
POOL_DECISIONS = Counter(
    "sluice_pool_decisions",
    "Scaling decisions that changed the pool (up, down, hold: only dead runners replaced).",
    ["pool", "direction"],
)
POOL_RUNNER_STARTS = Counter(
    "sluice_pool_runner_starts",
    "Runner processes started, warm (every toolchain image cached) or cold.",
    ["pool", "cache"],
)

PROCESSOR_EVENTS = Counter(
    "sluice_processor_events",
    "Events a stream processor applied (decider, timers, projection, notifier, ...).",
    ["processor"],
)
PROJECTION_LAG = Gauge(
    "sluice_projection_lag",
    "Offsets a processor is behind the head of the topic it reads (summed over partitions).",
    ["processor"],
)

DECIDER_EVENTS = Counter("sluice_decider_events", "Events the decider appended to sluice.runs.")
DECIDER_JOBS = Counter("sluice_decider_jobs", "Job messages the decider dispatched.")
DECIDER_IGNORED = Counter(
    "sluice_decider_ignored", "Inbox messages the decider fenced off or ignored."
)
DECIDER_MALFORMED = Counter(
    "sluice_decider_malformed", "Inbox messages the decider could not decode (skipped)."
)
DECIDER_DECISION_SECONDS = Histogram(
    "sluice_decider_decision_seconds",
    "Time to decide one inbox message (decode, decide, evolve).",
    buckets=_FAST_BUCKETS,
)
TIMER_FIRED = Counter(
    "sluice_timers_fired",
    "Timer messages sent to the inbox, by kind (lease_expired, start_timed_out, retry_due).",
    ["kind"],
)
TIMER_SKIPPED = Counter(
    "sluice_timers_skipped_events",
    "Events of sluice.runs the timers could not fold (an inconsistency: see their log).",
)

NOTIFICATION_DELIVERIES = Counter(
    "sluice_notification_deliveries",
    "Notification delivery attempts, by channel and outcome (delivered, failed).",
    ["channel", "outcome"],
)
NOTIFICATION_PENDING = Gauge(
    "sluice_notification_pending", "Notifications waiting in the outbox to be delivered."
)


class MetricsPortInUse(InfrastructureError):
    """The /metrics port is taken; pass another with --metrics-port or stop the other process."""


def serve_metrics(
    port: int, *, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY
) -> WSGIServer | None:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread (``shutdown()`` the server
    returned to stop it); port 0 serves nothing and returns None."""
    if port == 0:
        return None
    try:
        server, _ = _start_http_server(port, addr=addr, registry=registry)
    except OSError as e:
        raise MetricsPortInUse(f"cannot serve /metrics on port {port}: {e}") from e
    return server
