"""The orders worker: ``python -m orders_app.worker`` runs it until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker

from write_batcher import WriteBatchingPlugin

from .workflows import OrderWorkflow

TASK_QUEUE = "orders"


async def main() -> None:
    # TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key: the SDK's environment configuration.
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    client = await Client.connect(**config)
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[OrderWorkflow],
        # Adds what write() needs; the batcher worker checks each row against its table spec.
        plugins=[WriteBatchingPlugin()],
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
