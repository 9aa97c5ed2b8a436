-- The payment demo's own table: created by the demo (devstack, compose), never by the batcher.
CREATE TABLE IF NOT EXISTS ledger_entries (
    payment_id text PRIMARY KEY,
    account_id text NOT NULL,
    amount_cents int8 NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    auth_code text,
    memo text CHECK (char_length(memo) <= 200),
    batch_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ledger_entries_batch_id_idx ON ledger_entries (batch_id);
