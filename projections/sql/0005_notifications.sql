-- Notifications: who wants to hear about which pipeline (subscriptions), the durable outbox
-- of deliveries the notifier projection fills from sluice.runs (in the same transaction as
-- its offsets in projection_offsets), and every send attempt the sender loop makes.

CREATE TABLE notification_subscriptions (
    subscription_id text PRIMARY KEY,
    pipeline_id     text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('webhook', 'slack', 'email')),
    target          text NOT NULL,           -- URL, or an e-mail address
    events          text[] NOT NULL,         -- e.g. {run.failed,stage.failed}
    signing_secret  text,                    -- webhooks only; never shown or logged
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX notification_subscriptions_by_pipeline
    ON notification_subscriptions (pipeline_id) WHERE deleted_at IS NULL;

-- what the notifier remembers of each run from its RunCreated (later events carry only run_id)
CREATE TABLE notification_runs (
    run_id          text PRIMARY KEY,
    pipeline_id     text NOT NULL,
    pipeline_name   text NOT NULL,
    branch          text NOT NULL,
    commit_sha      text NOT NULL
);

CREATE TABLE notification_deliveries (
    delivery_id     text PRIMARY KEY,        -- the idempotency key receivers see
    subscription_id text NOT NULL REFERENCES notification_subscriptions (subscription_id),
    run_id          text NOT NULL,
    event           text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'abandoned')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
-- the sender only ever scans what is still to send: keep that index small
CREATE INDEX notification_deliveries_due
    ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_by_run ON notification_deliveries (run_id);

CREATE TABLE notification_attempts (
    delivery_id     text NOT NULL REFERENCES notification_deliveries (delivery_id),
    attempt         integer NOT NULL,
    attempted_at    timestamptz NOT NULL DEFAULT now(),
    outcome         text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    detail          text NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
