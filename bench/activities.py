"""The naive baseline's activity: one INSERT (one transaction) per write."""

from __future__ import annotations

from typing import Any

import asyncpg
from temporalio import activity

from write_batcher import TableSpec


class NaiveWriter:
    """Writes one row per call into its table, skipping a key already there (as the batcher's
    insert mode does); the row's batch id, where the table keeps one, is its own key."""

    def __init__(self, pool: asyncpg.Pool, table: TableSpec) -> None:
        self._pool = pool
        self._columns = [c.name for c in table.columns]
        names = [f'"{n}"' for n in self._columns]
        if table.batch_id_column:
            names.append(f'"{table.batch_id_column}"')
        self._batch_id = table.batch_id_column is not None
        key = ", ".join(f'"{k}"' for k in table.key)
        self._sql = (
            f"INSERT INTO {table.qualified_name} ({', '.join(names)}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(names) + 1))}) "
            f"ON CONFLICT ({key}) DO NOTHING"
        )
        self._key = table.key

    @activity.defn(name="bench_insert_one")
    async def insert(self, row: dict[str, Any]) -> None:
        values = [row.get(name) for name in self._columns]
        if self._batch_id:
            values.append(":".join(str(row[k]) for k in self._key))
        await self._pool.execute(self._sql, *values)
