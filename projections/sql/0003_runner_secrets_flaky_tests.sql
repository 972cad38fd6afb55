-- Runner-side tables: secrets encrypted at rest (Fernet; the key never reaches the
-- database), and the test history that lets a runner call a failure flaky.

CREATE TABLE secrets (
    pipeline_id     text NOT NULL,
    environment     text NOT NULL DEFAULT '',   -- '' = every environment of the pipeline
    name            text NOT NULL,
    ciphertext      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline_id, environment, name)
);

-- one row per (stage attempt, JUnit test): what each attempt saw
CREATE TABLE test_outcomes (
    pipeline_id     text NOT NULL,
    run_id          text NOT NULL,
    stage           text NOT NULL,
    attempt         integer NOT NULL,
    test_name       text NOT NULL,
    passed          boolean NOT NULL,
    PRIMARY KEY (run_id, stage, attempt, test_name)
);

-- tests seen both failing and passing on the same commit's stage: known flaky
CREATE TABLE flaky_tests (
    pipeline_id     text NOT NULL,
    test_name       text NOT NULL,
    flips           integer NOT NULL DEFAULT 1,
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline_id, test_name)
);
