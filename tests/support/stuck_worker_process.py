"""A worker whose workflow never yields, run by the kit's skeleton: for the shutdown test."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from write_batcher_kit.lifecycle import exit_process
from write_batcher_kit.service import run_until_stopped


@workflow.defn(name="NeverYields")
class NeverYields:
    @workflow.run
    async def run(self) -> None:
        while True:  # holds the workflow thread for good: the SDK reports a deadlock
            pass


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[NeverYields],
        graceful_shutdown_timeout=timedelta(seconds=1),
        # The script imports the kit; the sandbox would re-import it for nothing.
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    await client.start_workflow(NeverYields.run, id=f"stuck-{os.getpid()}", task_queue=task_queue)
    print("worker running", flush=True)
    await run_until_stopped(worker)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
    exit_process(0)
