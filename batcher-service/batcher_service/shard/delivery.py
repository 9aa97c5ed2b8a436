"""Answers to callers' write activities, completed by id through the batcher worker's client."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.service import RPCError, RPCStatusCode

from batcher_service.shard.state import Delivery
from write_batcher import errors

# Completions in flight at once from one flush: a batch's acks leave in parallel.
CONCURRENCY = 64
ATTEMPTS = 3


@dataclass
class DeliveryReport:
    # Completed; the caller's activity had already ended (answered, timed out, its workflow
    # closed); the server could not be reached (the caller's attempt times out and resends).
    delivered: int = 0
    gone: int = 0
    failed: int = 0


async def deliver(client: Client, deliveries: Sequence[Delivery]) -> DeliveryReport:
    """Complete each caller's activity with its ack (fail it, retryable, if overloaded)."""
    report = DeliveryReport()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery: Delivery) -> None:
        async with gate:
            result = await _deliver(client, delivery)
        setattr(report, result, getattr(report, result) + 1)

    await asyncio.gather(*(one(d) for d in deliveries))
    return report


def retry_delay(retry_after_seconds: float) -> timedelta:
    """The shard's hint with jitter (1x-2x), so refused senders do not come back together."""
    return timedelta(seconds=max(retry_after_seconds, 1.0) * random.uniform(1.0, 2.0))


async def _deliver(client: Client, delivery: Delivery) -> str:
    handle = client.get_async_activity_handle(
        workflow_id=delivery.caller_workflow_id,
        run_id=delivery.caller_run_id,
        activity_id=delivery.caller_activity_id,
    )
    for attempt in range(ATTEMPTS):
        try:
            if delivery.overloaded:
                ack = delivery.ack
                await handle.fail(
                    ApplicationError(
                        ack.error_message or "shard full",
                        type=errors.BATCHER_OVERLOADED,
                        category=ApplicationErrorCategory.BENIGN,
                        next_retry_delay=retry_delay(delivery.retry_after_seconds),
                    )
                )
            else:
                await handle.complete(delivery.ack)
            return "delivered"
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return "gone"
            if attempt + 1 == ATTEMPTS:
                return "failed"
            await asyncio.sleep(0.2 * 2**attempt)
    return "failed"  # pragma: no cover - the loop returns
