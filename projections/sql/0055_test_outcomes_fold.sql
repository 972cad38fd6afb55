-- Per-test outcomes become a fold of sluice.tests (issue 15): the test_outcomes projection
-- (projections/junit_outcomes.py) is the only writer of test_outcomes, flaky_tests and
-- test_flakiness. A row carries its run's commit and when it was reported, so the flaky
-- rule reads nothing but the projection's own tables (the same answer on every replay).
-- Rows written directly by runners before this version have no event behind them; they are
-- given their run's commit and time and kept.

ALTER TABLE test_outcomes
    ADD COLUMN commit_sha  text NOT NULL DEFAULT '',
    ADD COLUMN reported_at timestamptz NOT NULL DEFAULT 'epoch';

UPDATE test_outcomes o SET commit_sha = r.commit_sha, reported_at = r.created_at
    FROM pipeline_runs r WHERE r.run_id = o.run_id;

CREATE INDEX test_outcomes_by_test ON test_outcomes (pipeline_id, test_name, reported_at);

-- a fold never reads the clock: last_seen_at comes from the event
ALTER TABLE flaky_tests ALTER COLUMN last_seen_at DROP DEFAULT;

-- each test's judgement (orchestrator.domain.flaky, default rule: last 50 runs, 5 %-95 %)
-- after the last report of it, and the report that first made it flaky (never changed
-- once set: the notifier's "first time flaky" notice is keyed on it)
CREATE TABLE test_flakiness (
    pipeline_id         text NOT NULL,
    test_name           text NOT NULL,
    runs                integer NOT NULL,
    failed_runs         integer NOT NULL,
    flaky               boolean NOT NULL,
    flipped_on          text[] NOT NULL,
    updated_at          timestamptz NOT NULL,
    flaky_since         timestamptz,
    flaky_since_run_id  text,
    flaky_since_stage   text,
    flaky_since_attempt integer,
    flaky_since_commit  text,
    onset_runs          integer,
    onset_failed_runs   integer,
    PRIMARY KEY (pipeline_id, test_name)
);
CREATE INDEX test_flakiness_onsets ON test_flakiness (flaky_since) WHERE flaky_since IS NOT NULL;
