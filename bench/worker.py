"""The bench's own worker (``python -m bench.worker``): bench workflows on their own queue."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from temporalio.worker import Worker

from batcher_service.db import create_pool
from bench.activities import NaiveWriter
from bench.workflows import EmptyWorkflow, NaivePaymentWorkflow, PaymentWithoutWriteWorkflow
from main_service.activities import PaymentActivities
from shared.client import connect
from shared.lifecycle import configure_logging, exit_process, wait_for_stop_signal
from shared.settings import CommonSettings
from shared.telemetry import setup_telemetry

BENCH_TASK_QUEUE = "write-batching-bench"
# The same limits as the main worker's defaults (WORKER_MAX_CONCURRENT_*).
MAX_CONCURRENT = 200


async def serve() -> None:
    common = CommonSettings.from_env(os.environ, default_metrics_port=0)
    # The product's workers' telemetry (SDK metrics drained into Prometheus, tracing when
    # configured): the scenarios it runs pay what the shipped ones pay.
    telemetry = setup_telemetry("bench-worker", common.otlp_endpoint)
    pool = await create_pool(os.environ["DATABASE_URL"], 10)
    try:
        client = await connect(
            common.temporal, runtime=telemetry.runtime, interceptors=telemetry.interceptors
        )
        worker = Worker(
            client,
            task_queue=BENCH_TASK_QUEUE,
            workflows=[EmptyWorkflow, PaymentWithoutWriteWorkflow, NaivePaymentWorkflow],
            activities=[PaymentActivities().authorize, NaiveWriter(pool).insert],
            max_concurrent_activities=MAX_CONCURRENT,
            max_concurrent_workflow_tasks=MAX_CONCURRENT,
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        async with telemetry.serving(common.metrics_port, {}), worker:
            await wait_for_stop_signal()
    finally:
        await pool.close()
        telemetry.shutdown()


def main() -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    exit_process(main())
