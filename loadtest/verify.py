"""Database-side checks after a payment run: lost ledger rows, duplicates, batches used.

In loadtest, not devstack: the load test runs in the main image, which has no devstack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from main_service.names import LEDGER_TABLE


@dataclass
class Verification:
    """What PostgreSQL holds for a set of completed payments."""

    expected: int
    rows: int
    lost: int
    duplicates: int
    batches: int
    avg_batch_size: float


async def verify_writes(database_url: str, completed_payment_ids: Sequence[str]) -> Verification:
    """Every completed payment must have exactly one ledger row, found by its payment id.

    The table's primary key already forbids a second row per payment; ``duplicates`` counts
    rows per id anyway, so the check does not rest on the DDL it checks.
    """
    conn = await asyncpg.connect(database_url)
    try:
        ids = list(completed_payment_ids)
        record = await conn.fetchrow(
            f"""
            SELECT count(*) AS rows,
                   count(DISTINCT payment_id) AS payments,
                   count(DISTINCT batch_id) AS batches
            FROM {LEDGER_TABLE}
            WHERE payment_id = ANY($1::text[])
            """,
            ids,
        )
    finally:
        await conn.close()
    assert record is not None
    rows, batches = int(record["rows"]), int(record["batches"])
    return Verification(
        expected=len(ids),
        rows=rows,
        lost=len(ids) - int(record["payments"]),
        duplicates=rows - int(record["payments"]),
        batches=batches,
        avg_batch_size=round(rows / batches, 1) if batches else 0.0,
    )
