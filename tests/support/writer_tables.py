"""Tables the writer and batcher tests write: one per mode, created in the test database."""

from __future__ import annotations

import asyncpg

from write_batcher import TableSpec, table_specs_from_dict

SPECS: dict[str, TableSpec] = table_specs_from_dict(
    {
        "tables": {
            "accounts": {
                "mode": "insert",
                "key": ["account_id"],
                "columns": {
                    "account_id": {"type": "text", "max_length": 64},
                    "balance": "int8",
                    "note": {"type": "text", "nullable": True},
                },
            },
            "profiles": {
                "mode": "upsert",
                "key": ["user_id"],
                "batch_id_column": "written_by",
                "columns": {
                    "user_id": "int8",
                    "name": "text",
                    "score": {"type": "float8", "nullable": True},
                },
            },
            "samples": {
                "mode": "insert",
                "key": ["id"],
                "columns": {
                    "id": "text",
                    "t": {"type": "text", "nullable": True, "max_length": 100},
                    "i8": {"type": "int8", "nullable": True},
                    "i4": {"type": "int4", "nullable": True},
                    "f8": {"type": "float8", "nullable": True},
                    "b": {"type": "bool", "nullable": True},
                    "j": {"type": "jsonb", "nullable": True},
                },
            },
            "events": {
                "mode": "append",
                "columns": {
                    "kind": "text",
                    "payload": {"type": "jsonb", "nullable": True},
                    "amount": {"type": "int4", "nullable": True},
                },
            },
        }
    }
)

DDL = """
CREATE TABLE accounts (
    account_id text PRIMARY KEY,
    balance int8 NOT NULL CHECK (balance >= 0),
    note text
);
CREATE TABLE profiles (
    user_id int8 PRIMARY KEY,
    name text NOT NULL,
    score float8,
    written_by text
);
CREATE TABLE samples (
    id text PRIMARY KEY, t text, i8 int8, i4 int4, f8 float8, b bool, j jsonb
);
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    payload jsonb,
    amount int4
);
"""


async def create_tables(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(DDL)
    finally:
        await conn.close()
