"""The two-table scenario's tables: the demo's ledger plus the bench's append-only events."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from devstack.schema import MAIN_TABLES_FILE
from write_batcher import table_specs_from_dict

BENCH_DIR = Path(__file__).resolve().parent
BENCH_TABLES_FILE = BENCH_DIR / "tables.yaml"
BENCH_SCHEMA = BENCH_DIR / "schema.sql"
EVENTS_TABLE = "bench_payment_events"


def write_tables_file(directory: Path) -> Path:
    """One spec file with the demo's tables and the bench's, for the workers of the scenario.

    Built from both files at run time, so the ledger's spec is the demo's own, never a copy.
    """
    demo = yaml.safe_load(MAIN_TABLES_FILE.read_text())
    bench = yaml.safe_load(BENCH_TABLES_FILE.read_text())
    clash = set(demo["tables"]) & set(bench["tables"])
    if clash:
        raise ValueError(f"bench/tables.yaml redefines the demo's tables {sorted(clash)}")
    merged = {"tables": {**demo["tables"], **bench["tables"]}}
    table_specs_from_dict(merged)  # refuse a bad file here, not in two worker logs
    path = directory / "bench-tables.yaml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    return path


def event_row(payment_id: str, amount_cents: int, recorded_at: str) -> dict[str, Any]:
    """The payment's event (columns of bench/tables.yaml)."""
    return {
        "payment_id": payment_id,
        "kind": "authorized",
        "amount_cents": amount_cents,
        "recorded_at": recorded_at,
    }


async def verify_events(database_url: str, payment_ids: Sequence[str]) -> tuple[int, int]:
    """(lost, duplicates) among these payments' event rows: each must have exactly one.

    The table has no key, so a second row for a payment is a write that happened twice.
    """
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            f"SELECT payment_id, count(*) AS n FROM {EVENTS_TABLE} "
            "WHERE payment_id = ANY($1::text[]) GROUP BY payment_id",
            list(payment_ids),
        )
    finally:
        await conn.close()
    lost = len(set(payment_ids)) - len(rows)
    duplicates = sum(int(r["n"]) - 1 for r in rows)
    return lost, duplicates
