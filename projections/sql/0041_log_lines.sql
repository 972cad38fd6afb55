-- Searchable logs (issue 15): every line of every attempt's log, folded from the LogChunk
-- records of sluice.logs by the log_lines projection (projections/log_lines.py). Lines are
-- numbered as in the log text (the chunks' data joined in seq order, cut at '\n'); a line
-- not yet ended waits in log_line_tails. Masked by the runner before it left, like the log.
-- pg_trgm (Debian's postgresql-15 ships it, a trusted extension) lives in public so that a
-- test schema dropped with CASCADE never takes it along; its GIN index serves ILIKE '%q%'.

DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
EXCEPTION WHEN unique_violation OR duplicate_object THEN
    NULL;  -- another schema's migration created it at the same moment
END
$$;

CREATE TABLE log_lines (
    run_id     text NOT NULL,
    stage      text NOT NULL,
    attempt    integer NOT NULL,
    line_no    integer NOT NULL,
    line       text NOT NULL,
    logged_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, stage, attempt, line_no)
);

CREATE INDEX log_lines_trgm ON log_lines USING gin (line public.gin_trgm_ops);
CREATE INDEX log_lines_logged ON log_lines (logged_at);

CREATE TABLE log_line_tails (
    run_id     text NOT NULL,
    stage      text NOT NULL,
    attempt    integer NOT NULL,
    next_line  integer NOT NULL,
    partial    text NOT NULL,
    logged_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, stage, attempt)
);
