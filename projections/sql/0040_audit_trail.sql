-- The audit trail you can query (issue 15): every AuditEvent of sluice.audit, one row each,
-- folded by the audit_trail projection (projections/audit_trail.py). Never a secret value:
-- the events carry names and ids only.

CREATE TABLE audit_trail (
    audit_id     text PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    actor        text NOT NULL,
    subject      text NOT NULL,
    action       text NOT NULL,
    outcome      text NOT NULL,
    pipeline_id  text,
    detail       jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_trail_occurred ON audit_trail (occurred_at DESC);
CREATE INDEX audit_trail_actor ON audit_trail (actor, occurred_at DESC);
CREATE INDEX audit_trail_subject ON audit_trail (subject, occurred_at DESC);
CREATE INDEX audit_trail_action ON audit_trail (action, occurred_at DESC);
