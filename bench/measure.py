"""Per-scenario costs: history events of the workflows involved, worker RSS and CPU."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from temporalio.client import Client, WorkflowExecutionStatus

from shared.names import BATCHER_WORKFLOW

HISTORY_SAMPLE = 100


async def sampled_history_events(client: Client, workflow_ids: Sequence[str]) -> float:
    """Mean history length of (a sample of) these workflows."""
    step = max(1, len(workflow_ids) // HISTORY_SAMPLE)
    sample = list(workflow_ids)[::step][:HISTORY_SAMPLE]
    if not sample:
        return 0.0
    described = await asyncio.gather(*(client.get_workflow_handle(w).describe() for w in sample))
    return sum(d.history_length for d in described) / len(described)


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


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
