"""PostgreSQL outage tests' parts: a server the test can stop, and what a shard wrote to it."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from batcher_service.names import REQUEST_TABLE
from batcher_service.shard.state import BatcherStats
from devstack.postgres import EmbeddedPostgres
from tests.support.batcher_support import Shard
from tests.support.harness import eventually


@dataclass
class StoppablePostgres:
    """A PostgreSQL of the test's own, migrated, with the test tables: it can be stopped."""

    server: EmbeddedPostgres
    url: str
    pool: asyncpg.Pool

    async def count(self, sql: str) -> int:
        conn = await asyncpg.connect(self.url)
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    async def accounts_written(self) -> tuple[int, int, int]:
        """Rows in ``accounts``, the distinct account ids among them, and recorded requests."""
        rows = await self.count("SELECT count(*) FROM accounts")
        distinct = await self.count("SELECT count(DISTINCT account_id) FROM accounts")
        recorded = await self.count(f"SELECT count(*) FROM {REQUEST_TABLE}")
        return rows, distinct, recorded


async def back_until_written(
    pg: StoppablePostgres, s: Shard, accepted: int, within: float
) -> BatcherStats:
    """PostgreSQL started again; the shard's stats once it has written ``accepted`` rows."""
    assert pg.server.start() == pg.url

    async def all_written() -> bool:
        return (await s.stats()).rows_written >= accepted

    await eventually(all_written, within=within)
    return await s.stats()
