"""Wait until workers poll their task queues, so start-up time is not measured as latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

READY_TIMEOUT_S = 60.0


async def pollers(client: Client, task_queue: str, kind: TaskQueueType.ValueType) -> int:
    """How many distinct workers (by identity) poll this queue for this kind of task."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
        )
    )
    return len({p.identity for p in response.pollers})


async def wait_for_pollers(client: Client, workers: Mapping[str, int]) -> None:
    """Return once each queue has that many workers polling it for workflow and activity
    tasks; TimeoutError after a minute."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    for queue, count in workers.items():
        for kind in kinds:
            while await pollers(client, queue, kind) < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"fewer than {count} workers poll {queue} after {READY_TIMEOUT_S:g}s"
                    )
                await asyncio.sleep(0.2)
