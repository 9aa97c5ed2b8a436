"""``python -m batcher_service [worker]``: the batcher worker, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import asyncpg

from batcher_service.backfill.sources import BackfillSources
from batcher_service.postgres.catalog import TableSpecMismatch, check_specs
from batcher_service.postgres.observability import database_ready, register_pool_metrics
from batcher_service.postgres.pool import create_pool, is_connection_error
from batcher_service.settings import BatcherSettings
from batcher_service.worker import build_worker
from write_batcher import TableSpec
from write_batcher_kit.client import TemporalUnreachableError, connect
from write_batcher_kit.lifecycle import configure_logging, wait_for_stop_signal
from write_batcher_kit.settings import SettingsError
from write_batcher_kit.telemetry import setup_telemetry, temporal_ready

log = logging.getLogger("batcher_service")


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


async def serve(
    settings: BatcherSettings, tables: dict[str, TableSpec], sources: BackfillSources
) -> None:
    common = settings.common
    # The Runtime must exist before any client: it is where the SDK's metrics go.
    telemetry = setup_telemetry(common.service_name, common.otlp_endpoint)
    try:
        # Client interceptors that are also worker interceptors reach the worker too.
        client = await connect(
            common.temporal, runtime=telemetry.runtime, interceptors=telemetry.interceptors
        )
    except BaseException:
        telemetry.shutdown()
        raise
    pool = await create_pool(settings.database_url, settings.database_pool_size)
    try:
        await check_tables(pool, tables)
        register_pool_metrics(telemetry.registry, pool)
        worker = build_worker(
            client,
            pool,
            settings.batcher,
            tables,
            retention_hours=settings.request_retention_hours,
            backfill_sources=sources,
            max_concurrent_activities=settings.max_concurrent_activities,
        )
        checks = {"temporal": temporal_ready(client, worker), "postgres": database_ready(pool)}
        async with telemetry.serving(common.metrics_port, checks), worker:
            log.info("batcher worker running on %s", common.temporal["target_host"])
            await wait_for_stop_signal()
    finally:
        await pool.close()
        telemetry.shutdown()


def main(argv: list[str]) -> int:
    if argv:
        print(
            "usage: python -m batcher_service [worker] (settings come from the environment)",
            file=sys.stderr,
        )
        return 2
    try:
        settings = BatcherSettings.from_env(os.environ)
        sources = BackfillSources.from_env(os.environ)
    except SettingsError as err:
        print(f"batcher-service: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.common.log_level)
    try:
        asyncio.run(serve(settings, settings.tables, sources))
    except (TemporalUnreachableError, TableSpecMismatch) as err:
        print(f"batcher-service: {err}", file=sys.stderr)
        return 2
    log.info("batcher worker stopped")
    return 0
