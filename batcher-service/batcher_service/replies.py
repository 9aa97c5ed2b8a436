"""How the batcher workflow answers callers itself: a failed flush's rejections, acks by signal."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from shared import errors, names
    from shared.payloads import (
        AddressedAck,
        BatcherStats,
        FlushInput,
        FlushResult,
        WriteAck,
        WriteOutcome,
    )

# Temporal refuses a workflow task holding more than 2,000 pending external signals.
MAX_PENDING_ACK_SIGNALS = 1_000


def reject_all(flush: FlushInput, err: ActivityError) -> FlushResult:
    """Only a non-retryable failure lands here; every caller still gets an answer.

    The result's acks are those now owed: each request rejected, plus the flush's own notices.
    """
    cause = err.cause
    error_type = cause.type if isinstance(cause, ApplicationError) else None
    workflow.logger.error("flush %s failed for good: %s", flush.batch_id, cause)
    owed = [
        AddressedAck(
            req.caller_workflow_id,
            WriteAck(
                req.request_id,
                WriteOutcome.REJECTED,
                flush.batch_id,
                error_type or errors.BAD_BATCH,
                str(cause),
            ),
        )
        for req in flush.requests
    ]
    owed.extend(flush.notices)
    result = FlushResult(
        flush.batch_id,
        0,
        0,
        len(flush.requests),
        0,
        rejected_ids=[r.request_id for r in flush.requests],
        acks=owed,
    )
    return result


async def signal_acks(
    acks: list[AddressedAck], limit: asyncio.Semaphore, stats: BatcherStats
) -> None:
    """ACK_TRANSPORT=workflow: ack callers by external signal, never failing the batcher."""

    async def send(item: AddressedAck) -> None:
        async with limit:
            try:
                handle = workflow.get_external_workflow_handle(item.caller_workflow_id)
                await handle.signal(names.ACK_SIGNAL, item.ack)
                stats.acks_sent += 1
            except ApplicationError as err:
                # The caller is gone, finished or timed out: count it, drop it.
                stats.acks_failed += 1
                workflow.logger.warning(
                    "ack %s to %s failed: %s", item.ack.request_id, item.caller_workflow_id, err
                )

    await asyncio.gather(*(send(a) for a in acks))
