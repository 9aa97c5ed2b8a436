"""DDL of the target and dead-letter tables, generated from the shared row schema."""

from __future__ import annotations

from shared.names import DEAD_LETTER_TABLE, TARGET_TABLE
from shared.schema import ROW_COLUMNS


def _business_columns() -> str:
    lines = []
    for col in ROW_COLUMNS:
        null = " NOT NULL" if col.required else ""
        lines.append(f"    {col.name} {col.pg_type}{null},")
    return "\n".join(lines)


# IF NOT EXISTS everywhere: running the migration twice is a no-op.
STATEMENTS: tuple[str, ...] = (
    f"""
CREATE TABLE IF NOT EXISTS {TARGET_TABLE} (
    request_id text PRIMARY KEY,
    batch_id text NOT NULL,
    caller_workflow_id text NOT NULL,
    partition_key text NOT NULL,
{_business_columns()}
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT {TARGET_TABLE}_currency_iso CHECK (currency ~ '^[A-Z]{{3}}$'),
    CONSTRAINT {TARGET_TABLE}_memo_length CHECK (char_length(memo) <= 200)
)""",
    f"CREATE INDEX IF NOT EXISTS {TARGET_TABLE}_batch_id_idx ON {TARGET_TABLE} (batch_id)",
    f"""
CREATE TABLE IF NOT EXISTS {DEAD_LETTER_TABLE} (
    request_id text PRIMARY KEY,
    batch_id text,
    caller_workflow_id text NOT NULL,
    partition_key text NOT NULL,
    row_data jsonb NOT NULL,
    error_type text NOT NULL,
    error_message text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    resubmitted_at timestamptz
)""",
)
