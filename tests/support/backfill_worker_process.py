"""The backfill worker as its own process on a given queue, sources from its environment, for
kill -9 tests."""

from __future__ import annotations

import asyncio
import os

from batcher_service.backfill.sources import BackfillSources
from batcher_service.postgres.pool import create_pool
from tests.support.backfill_helpers import backfill_only_worker
from write_batcher_kit.client import connect
from write_batcher_kit.lifecycle import wait_for_stop_signal


async def main() -> None:
    pool = await create_pool(os.environ["DATABASE_URL"], 5)
    try:
        client = await connect({"target_host": os.environ["TEMPORAL_ADDRESS"]})
        sources = BackfillSources.from_env(os.environ)
        worker = backfill_only_worker(client, pool, sources, os.environ["TASK_QUEUE"])
        async with worker:
            print("worker running", flush=True)
            await wait_for_stop_signal()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
