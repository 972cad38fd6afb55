-- A notice on channel sluice_changes, payload '<schema>.<table>', after every statement that
-- changes a table a process keeps in memory (the API's token and pipeline caches:
-- orchestrator/api/row_cache.py, schemas/table_changes.py). Per statement, not per row: a
-- listener drops the whole table's cache, and PostgreSQL folds identical notices of one
-- transaction into one. TRUNCATE too (a replay empties the read model's tables).
CREATE FUNCTION notify_table_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sluice_changes', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed();

CREATE TRIGGER pipelines_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pipelines
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed();
