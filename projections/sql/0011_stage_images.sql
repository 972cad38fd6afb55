-- The image each stage runs in, as the run's DAG snapshot names it: runners keep the most
-- used images of the last days warm (pulled before a stage asks for them).
ALTER TABLE stages ADD COLUMN image text;
CREATE INDEX stages_image ON stages (image) WHERE image IS NOT NULL;
