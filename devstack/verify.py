"""Database-side checks after a run: lost writes, duplicates, batches used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shared.names import TARGET_TABLE
from shared.payloads import make_request_id


@dataclass
class Verification:
    """What PostgreSQL holds for a set of completed caller workflows."""

    expected: int
    rows: int
    lost: int
    duplicates: int
    batches: int
    avg_batch_size: float


async def verify_writes(database_url: str, completed_workflow_ids: Sequence[str]) -> Verification:
    """Every completed caller must have exactly one row, found by its request id."""
    conn = await asyncpg.connect(database_url)
    try:
        ids = list(completed_workflow_ids)
        record = await conn.fetchrow(
            f"""
            SELECT count(*) AS rows,
                   count(DISTINCT caller_workflow_id) AS callers,
                   count(DISTINCT batch_id) AS batches,
                   count(*) FILTER (WHERE request_id = ANY($2::text[])) AS matched
            FROM {TARGET_TABLE}
            WHERE caller_workflow_id = ANY($1::text[])
            """,
            ids,
            [make_request_id(wf, 1) for wf in ids],
        )
    finally:
        await conn.close()
    assert record is not None
    rows, batches = int(record["rows"]), int(record["batches"])
    return Verification(
        expected=len(ids),
        rows=rows,
        lost=len(ids) - int(record["matched"]),
        duplicates=rows - int(record["callers"]),
        batches=batches,
        avg_batch_size=round(rows / batches, 1) if batches else 0.0,
    )
