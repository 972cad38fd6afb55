-- Log lines leave PostgreSQL (issue 15): the log_lines projection also reads LogArchived and
-- LogExpired from sluice.runs. log_archives holds every attempt's archive (any attempt, not
-- only a stage's last: GET /runs/{id}/logs?stage=&attempt=N serves it from object storage);
-- an attempt's lines and tail are deleted once its log expired, or once it was archived
-- longer ago than SLUICE_LOG_LINES_RETENTION by the projection's own clock (the newest
-- occurred_at_ms it folded, kept in log_lines_clock): event time, never the wall clock, so a
-- replay trims exactly the same lines.

CREATE TABLE log_archives (
    run_id        text NOT NULL,
    stage         text NOT NULL,
    attempt       integer NOT NULL,
    storage_path  text NOT NULL,
    size_bytes    bigint,
    lines         bigint,
    archived_at   timestamptz,       -- the first LogArchived of the attempt
    expired_at    timestamptz,       -- its LogExpired: the object is gone
    trimmed       boolean NOT NULL DEFAULT false,  -- its lines have left log_lines
    PRIMARY KEY (run_id, stage, attempt)
);
-- what the trim asks each batch: archived before the cutoff, or expired, and not trimmed yet
CREATE INDEX log_archives_untrimmed ON log_archives (archived_at) WHERE NOT trimmed;
CREATE INDEX log_archives_expired ON log_archives (run_id)
    WHERE NOT trimmed AND expired_at IS NOT NULL;

CREATE TABLE log_lines_clock (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    clock_ms  bigint NOT NULL
);
