"""What the database saw: committed transactions and the sizes of the batches written."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg

from batcher_service.names import REQUEST_TABLE
from main_service.names import LEDGER_TABLE
from main_service.starter import percentile

# PostgreSQL (15+) publishes a busy backend's counters at most once a second and an idle one's
# within PGSTAT_IDLE_INTERVAL (10 s); a backend that exits publishes at once.
STATS_SETTLE_S = 11.0
BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@contextlib.asynccontextmanager
async def _connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """One short-lived connection, closed whatever happens."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def xact_commits(database_url: str) -> int:
    """pg_stat_database.xact_commit of the database the URL names."""
    async with _connection(database_url) as conn:
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    return int(value or 0)


async def pause_autovacuum(database_url: str) -> None:
    """Server-wide: autovacuum's visits are transactions too, and would blur the count."""
    async with _connection(database_url) as conn:
        await conn.execute("ALTER SYSTEM SET autovacuum = off")
        await conn.execute("SELECT pg_reload_conf()")


@contextlib.asynccontextmanager
async def autovacuum_paused(database_url: str) -> AsyncIterator[None]:
    """Autovacuum off inside, back to the server's default after (ALTER SYSTEM outlives the
    run in a reused data dir)."""
    await pause_autovacuum(database_url)
    try:
        yield
    finally:
        async with _connection(database_url) as conn:
            await conn.execute("ALTER SYSTEM RESET autovacuum")
            await conn.execute("SELECT pg_reload_conf()")


async def vacuum(database_url: str, tables: Sequence[str] = (LEDGER_TABLE,)) -> None:
    """What autovacuum would have done for the written tables (and the batcher's request
    table, written in the same transactions), done outside the counted window."""
    async with _connection(database_url) as conn:
        for table in (*tables, REQUEST_TABLE):
            await conn.execute(f'VACUUM (ANALYZE) "{table}"')


async def settled_xact_commits(database_url: str, settle: float = STATS_SETTLE_S) -> int:
    """xact_commit once the workers' last counters have been published."""
    await asyncio.sleep(settle)
    return await xact_commits(database_url)


async def batch_sizes(database_url: str, payment_ids: Sequence[str]) -> list[int]:
    """Ledger rows per batch_id among these payments' rows (the demo's table keeps batch_id)."""
    async with _connection(database_url) as conn:
        rows = await conn.fetch(
            f"SELECT count(*) AS n FROM {LEDGER_TABLE} "
            "WHERE payment_id = ANY($1::text[]) GROUP BY batch_id",
            list(payment_ids),
        )
    return [int(r["n"]) for r in rows]


def size_distribution(sizes: list[int]) -> dict[str, object]:
    """Count, mean, percentiles and a histogram (bucket upper bounds) of batch sizes."""
    values = [float(s) for s in sizes]
    histogram: dict[str, int] = {}
    lower = 0
    for upper in (*BUCKETS, None):
        label = f"{lower + 1}-{upper}" if upper is not None else f">{lower}"
        count = sum(1 for s in sizes if s > lower and (upper is None or s <= upper))
        if count:
            histogram[label] = count
        lower = upper or lower
    return {
        "batches": len(sizes),
        "mean": round(sum(sizes) / len(sizes), 1) if sizes else 0.0,
        "min": min(sizes, default=0),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(sizes, default=0),
        "histogram": histogram,
    }
