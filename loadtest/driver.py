"""Start workflows at a fixed rate or a fixed concurrency and time each one start to result."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from temporalio.client import Client, WorkflowFailureError

from loadtest.progress import Progress
from main_service.names import MAIN_TASK_QUEUE, PAYMENT_WORKFLOW
from main_service.starter import (
    RESULT_POLLERS,
    StarterReport,
    failure_type,
    payment_for,
    run_one,
)


async def run_load(
    client: Client,
    workflows: int,
    *,
    rate: float | None = None,
    concurrency: int | None = None,
    accounts: int = 50,
    run_id: str | None = None,
    workflow: str = PAYMENT_WORKFLOW,
    task_queue: str = MAIN_TASK_QUEUE,
    progress: Progress | None = None,
) -> StarterReport:
    """Run ``workflows`` of ``workflow``: paced at ``rate`` starts/s, or ``concurrency`` at once.

    Latency is the workflow's own start-to-close time on the server; a payment closes right
    after its write was acked, so this is start-to-ack. Results are awaited by at most
    RESULT_POLLERS long polls at once (the server caps them per namespace).
    """
    report = StarterReport(run_id=run_id or uuid.uuid4().hex[:8], workflows=workflows)
    slots = asyncio.Semaphore(concurrency or workflows or 1)
    pollers = asyncio.Semaphore(RESULT_POLLERS)
    failures: Counter[str] = Counter()
    progress = progress or Progress(total=workflows)

    async def one(index: int) -> None:
        workflow_id, payment = payment_for(report.run_id, index, accounts)
        report.workflow_ids.append(workflow_id)
        async with slots:
            progress.on_start()
            try:
                timing = await run_one(
                    client, workflow_id, payment, task_queue, pollers, workflow=workflow
                )
            except WorkflowFailureError as err:
                failures[failure_type(err.cause)] += 1
                progress.on_fail()
                return
            except Exception as err:  # RPC errors: count them, keep the run going
                failures[failure_type(err)] += 1
                progress.on_fail()
                return
            report.record(timing)
            report.completed_ids.append(workflow_id)
            progress.on_ack()

    began = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for index in range(workflows):
        if rate:
            delay = began + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    report.wall_seconds = round(time.monotonic() - began, 3)
    report.completed = len(report.latencies_ms)
    report.failed = sum(failures.values())
    report.failures = dict(failures)
    return report
