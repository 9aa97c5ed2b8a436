"""Coalesces the writes concurrent callers in this worker send to one shard into one message."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from shared import errors
from shared.names import BATCHER_WORKFLOW, SUBMIT_BATCH_SIGNAL, SUBMIT_UPDATE
from shared.payloads import WriteAck, WriteAckBatch, WriteRequest, WriteRequestBatch

# One message is one history event; stay far below Temporal's 2 MiB payload limit.
MAX_SIGNAL_REQUESTS = 200
MAX_SIGNAL_BYTES = 256 * 1024
# Updates of one worker to one shard that wait for their flush at once. The server refuses
# more than 10 in flight per workflow (limit.workflowExecution.maxInFlightUpdates): three per
# worker leave room for three main workers per shard (README, "How many shards").
MAX_WAITING_UPDATES = 3
# How long writes wait for a free slot before they go anyway (the server then holds them back
# at its own limit): a batcher that flushes by size may be waiting for exactly these writes.
SLOT_PATIENCE = 1.0
# A batcher run about to continue-as-new refuses updates for well under a second.
ROLLOVER_RETRY_FIRST = 0.05
ROLLOVER_RETRY_MAX = 1.0
ROLLOVER_RETRY_FOR = 60.0

TRANSPORTS = ("update", "signal")


@dataclass
class _Waiting:
    request: WriteRequest
    size_bytes: int
    answer: asyncio.Future[WriteAck | None]
    # The submitting activity's context, so the message's span lands in a caller's trace.
    context: contextvars.Context


@dataclass
class _Shard:
    slots: asyncio.Semaphore
    waiting: deque[_Waiting] = field(default_factory=deque)
    sender: asyncio.Task[None] | None = None
    last_sent: float = float("-inf")
    # The batcher's gap between flushes, as its last answer gave it.
    flush_interval: float = 0.0


class WriteCoalescer:
    """Signal- or update-with-start for many callers at once.

    A shard's first write after a quiet spell goes out at once; while a message is in
    flight, or within ``linger_seconds`` of the last one, writes gather and leave together.
    The batcher then sees one message (one event, one RPC, a share of one workflow task) for
    many writes.

    ``transport="update"``: ``send`` returns the write's ack once its flush is done; the
    batcher answers each update with the acks of the writes in it, so no caller gets a signal
    or a workflow task for its ack. ``transport="signal"``: ``send`` returns None once the
    signal is accepted; the ack comes to the caller by signal.

    A failed message fails every write in it; each caller's activity retries its own, and the
    batcher drops any copy that arrives twice.
    """

    def __init__(
        self, client: Client, *, task_queue: str, linger_seconds: float, transport: str = "update"
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        self._client = client
        self._task_queue = task_queue
        self._linger = linger_seconds
        self._transport = transport
        self._shards: dict[str, _Shard] = {}
        self._replies: set[asyncio.Task[None]] = set()

    async def send(
        self, workflow_id: str, request: WriteRequest, size_bytes: int
    ) -> WriteAck | None:
        shard = self._shards.get(workflow_id)
        if shard is None:
            shard = self._shards[workflow_id] = _Shard(asyncio.Semaphore(MAX_WAITING_UPDATES))
        answer: asyncio.Future[WriteAck | None] = asyncio.get_running_loop().create_future()
        shard.waiting.append(_Waiting(request, size_bytes, answer, contextvars.copy_context()))
        if shard.sender is None or shard.sender.done():
            shard.sender = asyncio.create_task(self._drain(workflow_id, shard))
        try:
            # Shielded: a cancelled caller leaves the message to the others it shares.
            return await asyncio.shield(answer)
        except asyncio.CancelledError:
            answer.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    async def _drain(self, workflow_id: str, shard: _Shard) -> None:
        while shard.waiting:
            pause = shard.last_sent + self._gap(shard) - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            slot = await self._slot(shard) if self._transport == "update" else False
            batch = self._take(shard.waiting)
            shard.last_sent = time.monotonic()
            if self._transport == "update":
                deliver = self._update(workflow_id, shard, batch, slot)
            else:
                deliver = self._signal(workflow_id, batch)
            await asyncio.create_task(deliver, context=batch[0].context)

    @staticmethod
    async def _slot(shard: _Shard) -> bool:
        """Whether a slot was free within the patience; False: the update goes without one."""
        try:
            await asyncio.wait_for(
                shard.slots.acquire(), timeout=max(SLOT_PATIENCE, shard.flush_interval)
            )
        except TimeoutError:
            return False
        return True

    def _gap(self, shard: _Shard) -> float:
        """The least time between two messages to a shard.

        Updates wait for their flush, and only a few may wait at once: spread them over the
        batcher's interval, so that one is always on its way for the next flush and no write
        is held back a whole interval for a free slot.
        """
        if self._transport == "signal":
            return self._linger
        return max(self._linger, shard.flush_interval / MAX_WAITING_UPDATES)

    @staticmethod
    def _take(waiting: deque[_Waiting]) -> list[_Waiting]:
        batch = [waiting.popleft()]
        size = batch[0].size_bytes
        while waiting and len(batch) < MAX_SIGNAL_REQUESTS:
            if size + waiting[0].size_bytes > MAX_SIGNAL_BYTES:
                break
            size += waiting[0].size_bytes
            batch.append(waiting.popleft())
        return batch

    async def _signal(self, workflow_id: str, batch: list[_Waiting]) -> None:
        try:
            # Signal-with-start: reaches the running batcher, or starts one; nobody starts
            # batchers by hand.
            await self._client.start_workflow(
                BATCHER_WORKFLOW,
                id=workflow_id,
                task_queue=self._task_queue,
                start_signal=SUBMIT_BATCH_SIGNAL,
                start_signal_args=[WriteRequestBatch([w.request for w in batch])],
            )
        except Exception as err:
            _fail(batch, err)
        else:
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_result(None)

    async def _update(
        self, workflow_id: str, shard: _Shard, batch: list[_Waiting], slot: bool
    ) -> None:
        """Returns once the batcher accepted the update; its acks are awaited in the background."""
        try:
            handle = await self._accepted(
                workflow_id, WriteRequestBatch([w.request for w in batch])
            )
        except Exception as err:
            if slot:
                shard.slots.release()
            _fail(batch, err)
            return
        reply = asyncio.create_task(self._await_acks(handle, shard, batch, slot))
        self._replies.add(reply)
        reply.add_done_callback(self._replies.discard)

    async def _accepted(
        self, workflow_id: str, requests: WriteRequestBatch
    ) -> WorkflowUpdateHandle[WriteAckBatch]:
        delay = ROLLOVER_RETRY_FIRST
        give_up = time.monotonic() + ROLLOVER_RETRY_FOR
        while True:
            start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
                BATCHER_WORKFLOW,
                id=workflow_id,
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            try:
                # Update-with-start: reaches the running batcher, or starts one.
                return await self._client.start_update_with_start_workflow(
                    SUBMIT_UPDATE,
                    requests,
                    start_workflow_operation=start,
                    wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                    result_type=WriteAckBatch,
                )
            except WorkflowUpdateFailedError as err:
                cause = err.cause
                rolling = isinstance(cause, ApplicationError) and (
                    cause.type == errors.BATCHER_ROLLING_OVER
                )
                if not rolling or time.monotonic() + delay > give_up:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, ROLLOVER_RETRY_MAX)

    @staticmethod
    async def _await_acks(
        handle: WorkflowUpdateHandle[WriteAckBatch],
        shard: _Shard,
        batch: list[_Waiting],
        slot: bool,
    ) -> None:
        try:
            result = await handle.result()
        except Exception as err:
            _fail(batch, err)
            return
        finally:
            if slot:
                shard.slots.release()
        shard.flush_interval = result.flush_interval_seconds
        for waiting, ack in zip(batch, result.acks, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(ack)


def _fail(batch: list[_Waiting], err: Exception) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(err)
