-- The orders app's own tables, created by the app (the batcher adds no column to them).
CREATE TABLE IF NOT EXISTS orders (
    order_id text PRIMARY KEY,
    customer_id text NOT NULL,
    status text NOT NULL,
    total_cents int8 NOT NULL CHECK (total_cents >= 0),
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS order_events (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id text NOT NULL,
    status text NOT NULL,
    total_cents int8 NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS order_events_order_id_idx ON order_events (order_id);
