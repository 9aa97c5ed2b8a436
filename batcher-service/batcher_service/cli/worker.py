"""``python -m batcher_service [worker]``: the batcher worker, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
from temporalio.client import Client

from batcher_service.postgres.catalog import TableSpecMismatch, check_specs
from batcher_service.postgres.migrate import pending
from batcher_service.postgres.observability import database_ready, register_pool_metrics
from batcher_service.postgres.pool import create_pool, is_connection_error
from batcher_service.settings import BatcherSettings
from batcher_service.worker import build_worker
from write_batcher import TableSpec
from write_batcher_kit.service import Served, serve, service_main
from write_batcher_kit.telemetry import Telemetry

log = logging.getLogger("batcher_service")

# Without Helm hooks (Argo CD, Flux...) the migration Job starts beside the worker, not before
# it: wait this long for it. Under the chart's startup probe budget (30 x 2 s).
MIGRATION_WAIT_SECONDS = 30.0


class MigrationsPending(RuntimeError):
    """The database lacks steps of the batcher's own tables that this version ships."""


async def check_migrated(
    pool: asyncpg.Pool, *, wait_seconds: float = MIGRATION_WAIT_SECONDS, interval: float = 2.0
) -> None:
    """A flush on a database without the batcher's own tables would reject its rows (a missing
    table concerns the statement), so the worker waits for the migration, then refuses to
    start. A database that is down does not stop it, as in check_tables."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            async with pool.acquire(timeout=5) as conn:
                missing = await pending(conn)
        except Exception as err:
            if not is_connection_error(err):
                raise
            log.warning("migrations not checked, database unreachable: %s", type(err).__name__)
            return
        if not missing:
            return
        if loop.time() >= deadline:
            raise MigrationsPending(
                f"the database lacks migrations {missing} of the batcher's own tables: run "
                "`python -m batcher_service migrate` (the chart's migration Job) first"
            )
        log.info("waiting for migrations %s (python -m batcher_service migrate)", missing)
        await asyncio.sleep(interval)


async def check_tables(pool: asyncpg.Pool, tables: dict[str, TableSpec]) -> None:
    """A spec that does not fit its table stops the worker at start; a database that is down
    does not (the flushes wait for it, and readiness says so)."""
    try:
        async with pool.acquire(timeout=5) as conn:
            await check_specs(conn, tables)
    except TableSpecMismatch:
        raise
    except Exception as err:
        if not is_connection_error(err):
            raise
        log.warning("table specs not checked, database unreachable: %s", type(err).__name__)


@asynccontextmanager
async def batcher_worker(
    settings: BatcherSettings, client: Client, telemetry: Telemetry
) -> AsyncIterator[Served]:
    """The worker and its pool; the pool closes once the worker has stopped."""
    pool = await create_pool(settings.database_url, settings.database_pool_size)
    try:
        await check_migrated(pool)
        await check_tables(pool, settings.tables)
        register_pool_metrics(telemetry.registry, pool)
        worker = build_worker(
            client,
            pool,
            settings.batcher,
            settings.tables,
            intake=settings.intake,
            retention_hours=settings.request_retention_hours,
            backfill_sources=settings.backfill_sources,
            max_concurrent_activities=settings.max_concurrent_activities,
            tuning=settings.tuning,
            versioning=settings.versioning,
        )
        yield Served(worker, {"postgres": database_ready(pool)})
    finally:
        await pool.close()


async def run(settings: BatcherSettings) -> None:
    await serve(settings.common, partial(batcher_worker, settings), name="batcher")


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m batcher_service [worker]  (settings: environment)", file=sys.stderr)
        return 2
    return service_main(
        "batcher-service",
        BatcherSettings.from_env,
        run,
        refusals=(TableSpecMismatch, MigrationsPending),
    )
