"""How busy the batcher shards were during a run: signals per second, workflow-task latency."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from write_batcher.contract import BATCHER_WORKFLOW


@dataclass
class ShardPulse:
    signals: int = 0
    seconds: float = 0.0
    # Workflow task scheduled -> completed, milliseconds, every task of every shard's runs.
    task_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        ms = sorted(self.task_ms)

        def pct(p: float) -> float:
            return round(ms[min(len(ms) - 1, int(p * len(ms)))], 1) if ms else 0.0

        return {
            "signals": self.signals,
            "signals_per_second": round(self.signals / self.seconds, 2) if self.seconds else 0.0,
            "workflow_tasks": len(ms),
            "task_p50_ms": pct(0.5),
            "task_p99_ms": pct(0.99),
            "task_max_ms": round(ms[-1], 1) if ms else 0.0,
        }


async def shard_pulse(client: Client, since: datetime, until: datetime) -> ShardPulse:
    """Every batcher run's history read for the events between ``since`` and ``until``."""
    pulse = ShardPulse(seconds=max((until - since).total_seconds(), 0.001))
    async for execution in client.list_workflows(f"WorkflowType = '{BATCHER_WORKFLOW}'"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        scheduled: datetime | None = None
        async for event in handle.fetch_history_events():
            at = event.event_time.ToDatetime(tzinfo=since.tzinfo)
            if not since <= at <= until:
                continue
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                pulse.signals += 1
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                scheduled = at
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and scheduled is not None:
                pulse.task_ms.append((at - scheduled).total_seconds() * 1000)
                scheduled = None
    return pulse
