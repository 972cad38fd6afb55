-- The HTTP API's own tables: hashed tokens, per-pipeline webhook secrets (encrypted),
-- webhook deliveries seen (redelivery de-duplication) and cron schedules.

CREATE TABLE api_tokens (
    token_id        text PRIMARY KEY,
    name            text NOT NULL,
    secret_sha256   text NOT NULL UNIQUE,   -- sha256 of the secret; the secret is shown once
    scopes          text[] NOT NULL,
    pipelines       text[] NOT NULL DEFAULT '{}',   -- empty = every pipeline
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

CREATE TABLE pipeline_webhooks (
    pipeline_id     text PRIMARY KEY,
    ciphertext      bytea NOT NULL,         -- Fernet, with the secrets key
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    delivery_id     text PRIMARY KEY,       -- provider:delivery id
    pipeline_id     text NOT NULL,
    run_id          text NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cron_schedules (
    schedule_id     text PRIMARY KEY,
    pipeline_id     text NOT NULL,
    expression      text NOT NULL,
    branch          text NOT NULL,
    next_fire_at    timestamptz NOT NULL,
    last_fired_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cron_schedules_due ON cron_schedules (next_fire_at);
