-- Retention is an event (ArtifactExpired, LogExpired): the read model keeps the rows and
-- marks when retention deleted the object, so an expired artifact answers 410 forever and
-- a replay rebuilds exactly these rows (nothing outside the projection deletes them).

ALTER TABLE artifacts ADD COLUMN expired_at timestamptz;
ALTER TABLE stages ADD COLUMN log_expired_at timestamptz;
CREATE INDEX artifacts_due_for_retention ON artifacts (expires_at) WHERE expired_at IS NULL;
