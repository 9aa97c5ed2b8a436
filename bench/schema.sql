-- The bench's append-only event table (bench/tables.yaml): no key, no column of the batcher's.
CREATE TABLE IF NOT EXISTS bench_payment_events (
    payment_id text NOT NULL,
    kind text NOT NULL,
    amount_cents int8 NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS bench_payment_events_payment_id_idx
    ON bench_payment_events (payment_id);
