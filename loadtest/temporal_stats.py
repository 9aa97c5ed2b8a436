"""What Temporal saw: history events of the callers and the batcher runs, batcher counters."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecutionStatus

from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherStats
from write_batcher.contract import BATCHER_WORKFLOW

_RUNNING_BATCHERS = f"WorkflowType = '{BATCHER_WORKFLOW}' AND ExecutionStatus = 'Running'"


async def total_history_events(
    client: Client, workflow_ids: Sequence[str], *, id_prefix: str = "", settle_s: float = 15.0
) -> int:
    """Sum of the history lengths of these (closed) workflows, every one of them.

    Read from visibility (one list call per page, not one describe per workflow), which may
    lag a closed workflow by a moment: listed again until all are there, then the few still
    missing are described.
    """
    wanted = set(workflow_ids)
    if not wanted:
        return 0
    query = "ExecutionStatus != 'Running'"
    if id_prefix:  # the run's own workflows only (``pay-{run id}-``)
        query += f" AND WorkflowId STARTS_WITH '{id_prefix}'"
    found: dict[str, int] = {}
    deadline = asyncio.get_running_loop().time() + settle_s
    while True:
        async for execution in client.list_workflows(query):
            if execution.id in wanted and execution.history_length:
                found[execution.id] = execution.history_length
        if len(found) == len(wanted) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(1.0)
    missing = [w for w in wanted if w not in found]
    described = await asyncio.gather(*(client.get_workflow_handle(w).describe() for w in missing))
    return sum(found.values()) + sum(d.history_length for d in described)


async def batcher_history_events(client: Client) -> int:
    """Events in all batcher runs so far (closed runs from visibility, running ones described)."""
    total = 0
    async for execution in client.list_workflows(f"WorkflowType = '{BATCHER_WORKFLOW}'"):
        if execution.status == WorkflowExecutionStatus.RUNNING:
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            total += (await handle.describe()).history_length
        else:
            total += execution.history_length
    return total


# BatcherStats counters the load test reports as what changed during the run.
_SUMMED = (
    "batches",
    "duplicates_dropped",
    "overloaded_rejections",
    "rows_withdrawn",
    "flushes_failed",
)


@dataclass
class BatcherTotals:
    """Counters summed over the running batcher shards (each carries its own through runs)."""

    shards: int = 0
    runs: int = 0
    batches: int = 0
    duplicates_dropped: int = 0
    overloaded_rejections: int = 0
    rows_withdrawn: int = 0
    flushes_failed: int = 0

    def minus(self, before: BatcherTotals) -> dict[str, int]:
        """What changed since ``before``; runs: the batcher runs the load used (those running
        before plus those started since)."""
        delta = {name: getattr(self, name) - getattr(before, name) for name in _SUMMED}
        return {"shards": self.shards, "runs": self.runs - before.runs + before.shards, **delta}


async def batcher_totals(client: Client) -> BatcherTotals:
    """The stats query of every running batcher, summed; zeros when none runs yet."""
    totals = BatcherTotals()
    async for execution in client.list_workflows(_RUNNING_BATCHERS):
        handle = client.get_workflow_handle(execution.id)
        stats = await handle.query(STATS_QUERY, result_type=BatcherStats)
        totals.shards += 1
        for name in ("runs", *_SUMMED):
            setattr(totals, name, getattr(totals, name) + getattr(stats, name))
    return totals
