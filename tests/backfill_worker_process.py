"""The batcher worker as its own process on a given queue, for kill -9 tests."""

from __future__ import annotations

import asyncio
import os

from batcher_service.db import create_pool
from batcher_service.worker import build_worker
from shared.client import connect
from shared.lifecycle import wait_for_stop_signal
from shared.payloads import BatcherConfig


async def main() -> None:
    pool = await create_pool(os.environ["DATABASE_URL"], 5)
    try:
        client = await connect({"target_host": os.environ["TEMPORAL_ADDRESS"]})
        worker = build_worker(client, pool, BatcherConfig(), task_queue=os.environ["TASK_QUEUE"])
        async with worker:
            print("worker running", flush=True)
            await wait_for_stop_signal()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
