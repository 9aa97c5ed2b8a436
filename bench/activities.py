"""The naive baseline's activity: one INSERT (one transaction) per write."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from shared.names import TARGET_TABLE
from shared.payloads import WriteRequest
from shared.schema import ROW_COLUMNS

_COLUMNS = (
    "request_id",
    "batch_id",
    "caller_workflow_id",
    "partition_key",
    *(c.name for c in ROW_COLUMNS),
)
INSERT_ONE_SQL = (
    f"INSERT INTO {TARGET_TABLE} ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}) "
    "ON CONFLICT (request_id) DO NOTHING"
)


class NaiveWriter:
    """Writes one row per call; its batch id is its own request id."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="bench_insert_one")
    async def insert(self, request: WriteRequest) -> None:
        await self._pool.execute(
            INSERT_ONE_SQL,
            request.request_id,
            request.request_id,
            request.caller_workflow_id,
            request.partition_key,
            *(request.row.get(c.name) for c in ROW_COLUMNS),
        )
