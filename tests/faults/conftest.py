"""Fault tests' fixtures: a PostgreSQL of the test's own that it can stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from batcher_service.postgres.migrate import migrate
from devstack.postgres import EmbeddedPostgres
from tests.support.outage import StoppablePostgres
from tests.support.writer_tables import create_tables


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[StoppablePostgres]:
    server = EmbeddedPostgres(tmp_path / "pg")
    url = server.start()
    try:
        await migrate(url)
        await create_tables(url)
        pool = await asyncpg.create_pool(url, min_size=0, max_size=4, timeout=3)
        assert pool is not None
        try:
            yield StoppablePostgres(server, url, pool)
        finally:
            await pool.close()
    finally:
        server.stop()
