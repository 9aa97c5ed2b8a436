"""Backfill tests' fixtures: the source database, the parts most tests share, the history check."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import scratch_database
from tests.support.backfill_helpers import SECRETS, STARTED, Backfill, Source, with_password


@pytest.fixture
async def source(pg_server_url: str) -> AsyncIterator[Source]:
    """A second fresh database, the backfill's source, reached with a password."""
    async with scratch_database(pg_server_url, "wb_src") as url:
        secret_url, password = with_password(url, f"pw{uuid.uuid4().hex[:16]}")
        SECRETS.add(password)
        yield Source(f"src_{uuid.uuid4().hex[:8]}", secret_url, password)


@pytest.fixture
def backfill(temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, source: Source) -> Backfill:
    return Backfill(temporal_env.client, db_pool, source)


@pytest.fixture(autouse=True)
async def no_password_in_history() -> AsyncIterator[None]:
    """After each test: no event of any backfill it started holds a password or a URL."""
    STARTED.clear()
    yield
    for handle in STARTED:
        async for event in handle.fetch_history_events():
            # The wire form holds every string and payload byte as sent.
            raw = event.SerializeToString()
            for secret in SECRETS:
                assert secret.encode() not in raw, f"{handle.id}: a password in {event}"
            assert b"postgresql://" not in raw or event.event_id == 1, f"{handle.id}: a URL"
