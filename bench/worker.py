"""The bench's own worker (``python -m bench.worker``): bench workflows on their own queue."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import timedelta
from functools import partial

from temporalio.client import Client
from temporalio.worker import Worker

from batcher_service.postgres.pool import create_pool
from bench.activities import NaiveWriter
from bench.workflows import (
    EmptyWorkflow,
    GroupCommitPaymentWorkflow,
    NaivePaymentWorkflow,
    PaymentWithoutWriteWorkflow,
    TwoTablePaymentWorkflow,
)
from main_service.activities import PaymentActivities
from main_service.files import TABLES_FILE
from main_service.names import LEDGER_TABLE
from main_service.settings import MainSettings
from write_batcher import WriteBatchingPlugin, load_table_specs
from write_batcher_kit.lifecycle import exit_process
from write_batcher_kit.service import Served, serve, service_main
from write_batcher_kit.telemetry import Telemetry

BENCH_TASK_QUEUE = "write-batching-bench"


@asynccontextmanager
async def bench_worker(
    settings: MainSettings, client: Client, telemetry: Telemetry
) -> AsyncIterator[Served]:
    """Bench workflows on the main worker's wiring, slots and tuning (MainSettings,
    WRITE_TABLES_FILE): every bench workflow runs on what a caller's worker has, the two-table
    one writes through it.
    """
    pool = await create_pool(os.environ["DATABASE_URL"], 10)
    try:
        worker = Worker(
            client,
            task_queue=BENCH_TASK_QUEUE,
            workflows=[
                EmptyWorkflow,
                GroupCommitPaymentWorkflow,
                PaymentWithoutWriteWorkflow,
                NaivePaymentWorkflow,
                TwoTablePaymentWorkflow,
            ],
            activities=[
                PaymentActivities().authorize,
                NaiveWriter(pool, load_table_specs(TABLES_FILE)[LEDGER_TABLE]).insert,
            ],
            plugins=[WriteBatchingPlugin(**asdict(settings.write))],
            **settings.tuning.worker_options(
                max_concurrent_activities=settings.max_concurrent_activities,
                max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            ),
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        yield Served(worker)
    finally:
        await pool.close()


async def run(settings: MainSettings) -> None:
    # The product's workers' telemetry and skeleton: the scenarios pay what the shipped ones pay.
    await serve(settings.common, partial(bench_worker, settings), name="bench")


if __name__ == "__main__":
    exit_process(service_main("bench-worker", MainSettings.from_env, run))
