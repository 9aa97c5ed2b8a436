"""Versioned, forward-only migrations: each step once, in order, recorded."""

from __future__ import annotations

import asyncpg

from batcher_service.postgres.migrate import LEDGER, migrate, migrations
from tests.conftest import scratch_database


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
