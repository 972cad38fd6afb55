-- The dead letters (issue 14): one row per dead-lettered stage attempt, folded from
-- sluice.jobs.dead (DeadLetter: the job, its pipeline) and sluice.runs (StageDeadLettered,
-- and a person's StageRedriveRequested / DeadLetterDiscarded that resolve it), plus the
-- infrastructure failures of every attempt so a dead letter shows how it got there.

CREATE TABLE dead_letters (
    dead_letter_id          text PRIMARY KEY,
    run_id                  text NOT NULL,
    stage                   text NOT NULL,
    attempt                 integer NOT NULL,
    pipeline_id             text,
    reason                  text NOT NULL,
    failure_class           text NOT NULL DEFAULT 'infrastructure',
    infrastructure_failures integer NOT NULL,
    dead_at                 timestamptz NOT NULL,
    status                  text NOT NULL DEFAULT 'dead',
    resolved_by             text,
    resolved_reason         text,
    resolved_at             timestamptz,
    -- its StageDeadLettered was folded: only then may a redrive or discard (which follow it
    -- on sluice.runs) resolve it, never a later dead letter read early from sluice.jobs.dead
    on_runs                 boolean NOT NULL DEFAULT false,
    UNIQUE (run_id, stage, attempt)
);
CREATE INDEX dead_letters_open ON dead_letters (dead_at) WHERE status = 'dead';

CREATE TABLE dead_letter_attempts (
    run_id      text NOT NULL,
    stage       text NOT NULL,
    attempt     integer NOT NULL,
    reason      text NOT NULL,
    runner_id   text,
    exit_code   integer,
    failed_at   timestamptz NOT NULL,
    PRIMARY KEY (run_id, stage, attempt)
);
