-- What the read model needs to mirror the domain when a person retries a stage: a skipped
-- dependent runs again only if its branch rule lets it and no stage it needs still blocks
-- it (a failed stage blocks unless it may fail). Both are fixed by the run's DAG snapshot.

ALTER TABLE stages
    ADD COLUMN allow_failure boolean NOT NULL DEFAULT false,
    ADD COLUMN on_branch     boolean NOT NULL DEFAULT true;
