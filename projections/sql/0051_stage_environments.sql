-- The environment a deploy stage deploys to, from the run's DAG snapshot: playing a manual
-- deploy stage of a protected environment needs the scope deploy:<environment>.
ALTER TABLE stages ADD COLUMN environment text;
