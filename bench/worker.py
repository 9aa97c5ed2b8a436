"""The bench's own worker (``python -m bench.worker``): bench workflows on their own queue."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from temporalio.worker import Worker

from batcher_service.postgres.pool import create_pool
from bench.activities import NaiveWriter
from bench.workflows import (
    EmptyWorkflow,
    NaivePaymentWorkflow,
    PaymentWithoutWriteWorkflow,
    TwoTablePaymentWorkflow,
)
from main_service.activities import PaymentActivities
from main_service.names import LEDGER_TABLE
from main_service.settings import MainSettings
from write_batcher import WriteBatchingPlugin
from write_batcher_kit.client import connect
from write_batcher_kit.lifecycle import configure_logging, exit_process, wait_for_stop_signal
from write_batcher_kit.telemetry import setup_telemetry

BENCH_TASK_QUEUE = "write-batching-bench"


async def serve(settings: MainSettings) -> None:
    common = settings.common
    # The product's workers' telemetry (SDK metrics drained into Prometheus, tracing when
    # configured): the scenarios it runs pay what the shipped ones pay.
    telemetry = setup_telemetry("bench-worker", common.otlp_endpoint)
    pool = await create_pool(os.environ["DATABASE_URL"], 10)
    try:
        client = await connect(
            common.temporal, runtime=telemetry.runtime, interceptors=telemetry.interceptors
        )
        # The main worker's wiring and limits (MainSettings, WRITE_TABLES_FILE): every bench
        # workflow runs on what a caller's worker has, the two-table one writes through it.
        batching = WriteBatchingPlugin(
            settings.tables,
            shards=settings.batcher_shards,
            ack_timeout_seconds=settings.ack_timeout_seconds,
            linger_seconds=settings.submit_linger_seconds,
            ack_poll_seconds=settings.ack_poll_seconds,
            max_row_bytes=settings.max_row_bytes,
        )
        worker = Worker(
            client,
            task_queue=BENCH_TASK_QUEUE,
            workflows=[
                EmptyWorkflow,
                PaymentWithoutWriteWorkflow,
                NaivePaymentWorkflow,
                TwoTablePaymentWorkflow,
            ],
            activities=[
                PaymentActivities().authorize,
                NaiveWriter(pool, settings.tables[LEDGER_TABLE]).insert,
            ],
            plugins=[batching],
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_local_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        async with telemetry.serving(common.metrics_port, {}), worker:
            await wait_for_stop_signal()
    finally:
        await pool.close()
        telemetry.shutdown()


def main() -> int:
    settings = MainSettings.from_env(os.environ)
    configure_logging(settings.common.log_level)
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    exit_process(main())
