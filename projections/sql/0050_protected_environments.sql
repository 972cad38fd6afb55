-- Environments an admin protected: playing or rolling back their deploys needs a token with
-- the scope deploy:<environment> (or admin). Set through the API (PUT/DELETE
-- /environments/{env}/protection, `sluice env protect|unprotect`), each change audited; like
-- api_tokens it is configuration, not a fold of the log.
CREATE TABLE protected_environments (
    name            text PRIMARY KEY,
    protected_by    text NOT NULL,
    protected_at    timestamptz NOT NULL DEFAULT now()
);
