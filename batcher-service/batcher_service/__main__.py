"""Entry point: ``python -m batcher_service`` runs the batcher worker until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from batcher_service.db import create_pool
from batcher_service.db_observability import database_ready, register_pool_metrics
from batcher_service.worker import build_worker
from shared.client import TemporalUnreachableError, connect
from shared.lifecycle import configure_logging, exit_process, wait_for_stop_signal
from shared.settings import BatcherSettings, SettingsError
from shared.telemetry import setup_telemetry, temporal_ready

log = logging.getLogger("batcher_service")


async def serve(settings: BatcherSettings) -> None:
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
        register_pool_metrics(telemetry.registry, pool)
        worker = build_worker(
            client,
            pool,
            settings.batcher,
            max_concurrent_activities=settings.max_concurrent_activities,
        )
        checks = {"temporal": temporal_ready(client, worker), "postgres": database_ready(pool)}
        async with telemetry.serving(common.metrics_port, checks), worker:
            log.info("batcher worker running on %s", common.temporal["target_host"])
            await wait_for_stop_signal()
    finally:
        await pool.close()
        telemetry.shutdown()


def main() -> int:
    try:
        settings = BatcherSettings.from_env(os.environ)
    except SettingsError as err:
        print(f"batcher-service: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.common.log_level)
    try:
        asyncio.run(serve(settings))
    except TemporalUnreachableError as err:
        print(f"batcher-service: {err}", file=sys.stderr)
        return 2
    log.info("batcher worker stopped")
    return 0


if __name__ == "__main__":
    exit_process(main())
