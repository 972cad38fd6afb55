-- The read model of runs, stages and artifacts, folded from sluice.runs, and the offsets
-- each projection has committed together with its rows (exactly-once projection).

CREATE TABLE pipelines (
    pipeline_id     text PRIMARY KEY,
    name            text NOT NULL,
    repo_url        text NOT NULL,
    config_path     text NOT NULL DEFAULT 'pipeline.yaml',
    default_branch  text NOT NULL DEFAULT 'main',
    priority        text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz
);

CREATE TABLE pipeline_runs (
    run_id          text PRIMARY KEY,
    pipeline_id     text NOT NULL,
    branch          text NOT NULL,
    commit_sha      text NOT NULL,
    source          text NOT NULL,
    priority        text NOT NULL,
    status          text NOT NULL,
    reason          text,
    created_at      timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline_id, created_at DESC, run_id);
-- the dashboards and the stuck-run scan only ever look at live runs: keep that index small
CREATE INDEX pipeline_runs_active ON pipeline_runs (created_at) WHERE status IN ('queued', 'running');

CREATE TABLE stages (
    run_id          text NOT NULL REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
    name            text NOT NULL,
    position        integer NOT NULL,
    status          text NOT NULL,
    attempt         integer NOT NULL DEFAULT 0,
    needs           text[] NOT NULL DEFAULT '{}',
    runner_id       text,
    exit_code       integer,
    failure_class   text,
    reason          text,
    log_path        text,
    queued_at       timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE artifacts (
    artifact_id     text PRIMARY KEY,
    run_id          text NOT NULL REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
    stage           text NOT NULL,
    attempt         integer NOT NULL,
    name            text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    storage_path    text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX artifacts_by_run ON artifacts (run_id);
CREATE INDEX artifacts_by_expiry ON artifacts (expires_at);

CREATE TABLE projection_offsets (
    projection      text NOT NULL,
    topic           text NOT NULL,
    partition       integer NOT NULL,
    next_offset     bigint NOT NULL,
    PRIMARY KEY (projection, topic, partition)
);
