-- The runners' job queue (issue 13): every job message of the sluice.jobs.<priority> topics,
-- copied here by the runners themselves (runners/job_feed.py, idempotent on job_id), and
-- which runner took it. A runner with a free slot takes the most urgent, oldest job that
-- nobody holds (FOR UPDATE SKIP LOCKED), so no job waits on a busy runner while another
-- has a free slot, and any number of runners take work of one priority (a partition is no
-- longer a unit of ownership). Not a read model: the runners write the claim columns.
-- A claim is first a short hold (hold_until); once the runner's StageClaimed reached the
-- log it is handed over (the decider's lease protects it from then on), so a runner that
-- dies between taking a row and reporting its claim lets the row go after the hold.

CREATE TABLE job_queue (
    job_id          text PRIMARY KEY,
    run_id          text NOT NULL,
    priority        smallint NOT NULL,          -- 0 critical, 1 high, 2 normal, 3 low
    enqueued_at_ms  bigint NOT NULL,
    message         bytea NOT NULL,             -- the job message as it was on its topic
    fed_at          timestamptz NOT NULL DEFAULT now(),
    claimed_by      text,
    hold_until      timestamptz,                -- a claim not handed over by then is void
    handed_over_at  timestamptz                 -- the runner's StageClaimed is on the log
);

CREATE INDEX job_queue_waiting ON job_queue (priority, enqueued_at_ms, job_id)
    WHERE handed_over_at IS NULL;
CREATE INDEX job_queue_handed_over ON job_queue (handed_over_at)
    WHERE handed_over_at IS NOT NULL;
