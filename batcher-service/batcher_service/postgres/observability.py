"""PostgreSQL pool gauges for /metrics and the database half of the batcher's /readyz."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from write_batcher_kit.http_server import ReadinessCheck


def register_pool_metrics(registry: CollectorRegistry, pool: asyncpg.Pool) -> None:
    """Read at scrape time, so the gauges cost nothing between scrapes."""
    in_use = Gauge(
        "write_batcher_db_pool_connections_in_use",
        "Pool connections checked out by a flush",
        registry=registry,
    )
    in_use.set_function(lambda: pool.get_size() - pool.get_idle_size())
    size = Gauge(
        "write_batcher_db_pool_connections",
        "Pool connections open (in use plus idle)",
        registry=registry,
    )
    size.set_function(pool.get_size)
    limit = Gauge(
        "write_batcher_db_pool_connections_max",
        "Pool size limit (DATABASE_POOL_SIZE)",
        registry=registry,
    )
    limit.set_function(pool.get_max_size)


def database_ready(pool: asyncpg.Pool, timeout: float = 2.0) -> ReadinessCheck:
    """Ready when a pooled connection answers ``SELECT 1`` within ``timeout`` seconds."""

    async def check() -> None:
        async with pool.acquire(timeout=timeout) as conn:
            await conn.fetchval("SELECT 1", timeout=timeout)

    return check
