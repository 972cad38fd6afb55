-- Image build stages: the image a stage built and pushed (ImageBuilt), shown with the stage.
ALTER TABLE stages
    ADD COLUMN image_name       text,
    ADD COLUMN image_tag        text,
    ADD COLUMN image_digest     text,
    ADD COLUMN image_size_bytes bigint;

-- Per-test results of a stage attempt's report: a skipped test has passed NULL, and each
-- test keeps its duration when the report gives one.
ALTER TABLE test_outcomes
    ALTER COLUMN passed DROP NOT NULL,
    ADD COLUMN duration_ms bigint;
