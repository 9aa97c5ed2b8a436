"""Versioned, forward-only migrations: each step once, in order, recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from batcher_service.cli.worker import MigrationsPending, check_migrated
from batcher_service.postgres.migrate import LEDGER, migrate, migrations, pending
from batcher_service.postgres.pool import create_pool
from tests.conftest import scratch_database


@asynccontextmanager
async def _unmigrated_pool(server_url: str, name: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A fresh database, not migrated: its URL and a pool on it."""
    async with scratch_database(server_url, name) as url:
        pool = await create_pool(url, 2)
        try:
            yield url, pool
        finally:
            await pool.close()


def test_steps_are_numbered_without_gaps() -> None:
    versions = [m.version for m in migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_each_step_applies_once_and_is_recorded(pg_server_url: str) -> None:
    async with scratch_database(pg_server_url, "wb_migrate") as url:
        assert await migrate(url) == [m.version for m in migrations()]
        assert await migrate(url) == []  # idempotent: a second run (a second pod) does nothing
        conn = await asyncpg.connect(url)
        try:
            recorded = await conn.fetch(f"SELECT version, name FROM {LEDGER} ORDER BY version")
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'write_batcher_%' ORDER BY 1"
            )
        finally:
            await conn.close()
    assert [(r["version"], r["name"]) for r in recorded] == [(1, "batcher_tables")]
    assert [r["tablename"] for r in tables] == [
        "write_batcher_dead_letters",
        "write_batcher_requests",
        "write_batcher_schema_migrations",
    ]


async def test_pending_lists_the_steps_not_yet_applied(pg_server_url: str) -> None:
    async with scratch_database(pg_server_url, "wb_pending") as url:
        conn = await asyncpg.connect(url)
        try:
            assert await pending(conn) == [m.version for m in migrations()]
            await migrate(url)
            assert await pending(conn) == []
        finally:
            await conn.close()


async def test_the_batcher_waits_for_a_migration_running_beside_it(pg_server_url: str) -> None:
    """Without Helm hooks the Job and the worker start together: the worker waits for it."""
    async with _unmigrated_pool(pg_server_url, "wb_wait") as (url, pool):

        async def migrate_later() -> None:
            await asyncio.sleep(0.5)
            await migrate(url)

        await asyncio.gather(check_migrated(pool, wait_seconds=20, interval=0.1), migrate_later())


async def test_the_batcher_refuses_a_database_never_migrated(pg_server_url: str) -> None:
    async with _unmigrated_pool(pg_server_url, "wb_unmigrated") as (_, pool):
        with pytest.raises(MigrationsPending, match="python -m batcher_service migrate"):
            await check_migrated(pool, wait_seconds=0.3, interval=0.1)
