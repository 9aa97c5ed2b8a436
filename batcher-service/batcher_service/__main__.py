"""Entry point: ``python -m batcher_service`` runs the batcher worker until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from batcher_service.db import create_pool
from batcher_service.worker import build_worker
from shared.client import connect
from shared.lifecycle import configure_logging, wait_for_stop_signal
from shared.settings import BatcherSettings, SettingsError

log = logging.getLogger("batcher_service")


async def serve(settings: BatcherSettings) -> None:
    pool = await create_pool(settings.database_url, settings.database_pool_size)
    try:
        client = await connect(settings.common.temporal)
        worker = build_worker(
            client,
            pool,
            settings.batcher,
            max_concurrent_activities=settings.max_concurrent_activities,
        )
        async with worker:
            log.info("batcher worker running on %s", settings.common.temporal["target_host"])
            await wait_for_stop_signal()
    finally:
        await pool.close()


def main() -> int:
    try:
        settings = BatcherSettings.from_env(os.environ)
    except SettingsError as err:
        print(f"batcher-service: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.common.log_level)
    asyncio.run(serve(settings))
    log.info("batcher worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
