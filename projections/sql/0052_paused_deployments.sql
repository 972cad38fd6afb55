-- A canary paused for a person: outcome 'paused' with the step a promote must answer and
-- why it paused (DeploymentPaused); a promote sets it 'running' again (DeploymentPromoted).
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS paused_step integer;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS paused_reason text;
