-- Which run a deduplicated request became (projections/request_aliases.py): a 202 names the
-- run id a request was given; when the request repeated a run of the last 60 s, no run of
-- that id is ever created, and GET /runs/{id} follows this row to the existing run.

CREATE TABLE request_aliases (
    requested_run_id  text PRIMARY KEY,
    run_id            text NOT NULL,
    request_id        text NOT NULL,
    occurred_at       timestamptz NOT NULL
);
