-- The batcher's own tables. Users' tables are theirs: the batcher never creates or alters them.

-- One row per request written (or settled) through the batcher, in the same transaction as
-- its row: a retried flush writes each request once and still says which batch wrote it.
-- Pruned past REQUEST_RETENTION_HOURS (the de-duplication horizon).
CREATE TABLE IF NOT EXISTS write_batcher_requests (
    request_id text PRIMARY KEY,
    table_name text NOT NULL,
    batch_id text NOT NULL,
    -- written, key_exists (insert mode left an existing row), superseded (upsert mode:
    -- a later write to the same key in the same batch won) or withdrawn (its caller's
    -- deadline passed first: no row, and every later copy of the request is refused)
    outcome text NOT NULL,
    -- The row's conflict key as JSON text (keyed tables): traces a row to its batch.
    row_key text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS write_batcher_requests_recorded_at_idx
    ON write_batcher_requests (recorded_at);
CREATE INDEX IF NOT EXISTS write_batcher_requests_row_key_idx
    ON write_batcher_requests (table_name, row_key);

-- Rows PostgreSQL refused. The request is kept as encoded bytes, so no value a caller can
-- send (NUL, lone surrogates, NaN) can make this insert fail; text columns hold escaped copies.
CREATE TABLE IF NOT EXISTS write_batcher_dead_letters (
    request_id text PRIMARY KEY,
    table_name text NOT NULL,
    batch_id text,
    caller_workflow_id text NOT NULL,
    partition_key text NOT NULL,
    request bytea NOT NULL,
    error_type text NOT NULL,
    error_message text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    resubmitted_at timestamptz
);
CREATE INDEX IF NOT EXISTS write_batcher_dead_letters_rejected_at_idx
    ON write_batcher_dead_letters (rejected_at);
