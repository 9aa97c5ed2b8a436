"""OrderWorkflow: upsert the order's row and append its event, two writes at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio import workflow

# No imports_passed_through(): WriteBatchingPlugin passes write_batcher through the sandbox.
from write_batcher import WriteResult, write


@dataclass
class OrderUpdate:
    order_id: str
    customer_id: str
    status: str
    total_cents: int


@dataclass
class OrderResult:
    order: WriteResult
    event: WriteResult


@workflow.defn(name="OrderWorkflow")
class OrderWorkflow:
    @workflow.run
    async def run(self, update: OrderUpdate) -> OrderResult:
        # Workflow time: a replay computes the same rows.
        now = workflow.now().isoformat()
        # Both rows go to the batcher together; each call returns once its row is written
        # (or raises an ApplicationError: InvalidWrite, WriteRejected, ...).
        order, event = await asyncio.gather(
            write(
                "orders",
                {
                    "order_id": update.order_id,
                    "customer_id": update.customer_id,
                    "status": update.status,
                    "total_cents": update.total_cents,
                    "updated_at": now,
                },
            ),
            write(
                "order_events",
                {
                    "order_id": update.order_id,
                    "status": update.status,
                    "total_cents": update.total_cents,
                    "recorded_at": now,
                },
            ),
        )
        return OrderResult(order=order, event=event)
