-- Environments and their deployments: a fold of the Deployment* events of sluice.runs
-- (projections/environments.py), written in the read model's transaction.
CREATE TABLE IF NOT EXISTS deployments (
    deployment_id  text PRIMARY KEY,          -- run_id/stage/attempt
    environment    text NOT NULL,
    run_id         text NOT NULL,
    stage          text NOT NULL,
    attempt        integer NOT NULL,
    strategy       text NOT NULL,
    image          text NOT NULL,
    replicas       integer NOT NULL,
    port           integer NOT NULL,
    health_check_path text NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    outcome        text NOT NULL DEFAULT 'running',  -- running, succeeded, failed, rolled_back
    reason         text,
    rolled_back_to text                               -- the image traffic went back to
);
CREATE INDEX IF NOT EXISTS deployments_by_environment ON deployments (environment, started_at DESC);

CREATE TABLE IF NOT EXISTS environments (
    name                  text PRIMARY KEY,
    current_image         text,         -- what the last succeeded deployment shipped
    current_deployment_id text,
    last_deployment_id    text NOT NULL,
    updated_at            timestamptz NOT NULL
);
