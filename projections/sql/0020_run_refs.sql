-- Merge-request and tag runs (issue 15): what kind of ref a run builds and, for a tag or a
-- merge (pull) request, what it is. Folded from RunCreated v2; older runs are branch runs.

ALTER TABLE pipeline_runs
    ADD COLUMN ref_type           text NOT NULL DEFAULT 'branch',
    ADD COLUMN tag                text,
    ADD COLUMN merge_request_iid  bigint,
    ADD COLUMN merge_request_url  text,
    ADD COLUMN target_branch      text;
