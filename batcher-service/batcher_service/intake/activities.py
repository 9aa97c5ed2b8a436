"""The callers' write activity and its withdrawal, run on the batcher's task queue."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import activity
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from batcher_service.intake.coalescer import WriteCoalescer
from batcher_service.intake.config import IntakeConfig
from write_batcher import errors
from write_batcher._routing import shard_for
from write_batcher._spans import annotate, traceparent
from write_batcher._validation import validate_activity_input
from write_batcher.contract import (
    BATCHER_TASK_TIMEOUT,
    BATCHER_WORKFLOW,
    WITHDRAW_ACTIVITY,
    WITHDRAW_UPDATE,
    WRITE_ACTIVITY,
    WithdrawRequest,
    WriteAck,
    WriteInput,
    WriteRequest,
    batcher_workflow_id,
)
from write_batcher.tables import TableSpec

# At shutdown, how long the writes taken in may take to leave in their shard's signal.
DRAIN_SECONDS = 5.0
# One withdrawal attempt's bound; the caller's workflow retries it up to its own timeout.
WITHDRAW_RPC_TIMEOUT = timedelta(seconds=10)
RETRY_JITTER_SECONDS = 0.5
# Withdrawals one worker sends to one shard at once: the server takes 10 updates in flight per
# workflow; more would only be refused, while holding activity slots the flushes need.
WITHDRAWALS_PER_SHARD = 8
# The shard's own "ask again" answers: the attempt fails with the type, the caller retries.
_ASK_AGAIN = (errors.WRITE_IN_FLIGHT, errors.BATCHER_ROLLING_OVER)


class IntakeActivities:
    """One per batcher worker: the writes of all callers to one shard share its signals."""

    def __init__(self, tables: Mapping[str, TableSpec], config: IntakeConfig) -> None:
        self._tables = dict(tables)
        self._config = config
        self._coalescer: WriteCoalescer | None = None
        # Hand-offs still gathering into their shard's next signal (kept so none is collected).
        self._handoffs: set[asyncio.Task[None]] = set()
        self._withdrawing: dict[str, asyncio.Semaphore] = {}

    async def drain(self) -> None:
        """Wait, a bounded time, for the hand-offs still gathering into a signal."""
        if self._handoffs:
            await asyncio.wait(set(self._handoffs), timeout=DRAIN_SECONDS)

    def _shard_id(self, request: WriteRequest) -> str:
        shard = shard_for(request.partition_key, self._config.shards)
        return batcher_workflow_id(shard, self._config.id_prefix)

    def _validated(self, write: WriteInput) -> tuple[WriteRequest, int]:
        return validate_activity_input(
            self._tables, write, max_row_bytes=self._config.max_row_bytes
        )

    @activity.defn(name=WRITE_ACTIVITY)
    async def write(self, write: WriteInput) -> NoReturn:
        """Validate strictly, hand the row to its shard, and leave the answer to the shard.

        Returns nothing itself: the shard's flush completes this activity by its id with the
        row's ``WriteAck`` once the row is settled (or fails it, retryable, while the shard is
        full). The attempt frees its slot at once; the row leaves with its shard's next signal,
        and a signal that fails fails the attempt by id, so the caller's retry policy sends it
        again. A worker that dies first leaves the attempt to its start-to-close timeout.
        """
        # Tags the RunActivity span: find a write's trace by its request id.
        annotate({"write_batcher.request_id": write.request_id})
        try:
            request, size = self._validated(write)
        except ApplicationError as err:
            activity.logger.info("refused: %s", err.message)  # one line: the caller is told
            raise
        # The shard's spans for this write (buffered, flushed) join its trace through this.
        request.trace_parent = traceparent()
        if self._coalescer is None:
            self._coalescer = WriteCoalescer(
                activity.client(),
                task_queue=activity.info().task_queue,
                linger_seconds=self._config.linger_seconds,
            )
        handoff = asyncio.create_task(self._hand_off(self._coalescer, request, size))
        self._handoffs.add(handoff)
        handoff.add_done_callback(self._handoffs.discard)
        activity.raise_complete_async()

    async def _hand_off(self, coalescer: WriteCoalescer, request: WriteRequest, size: int) -> None:
        shard = self._shard_id(request)
        try:
            await coalescer.send(shard, request, size)
        except Exception as err:
            handle = coalescer.client.get_async_activity_handle(
                workflow_id=request.caller_workflow_id,
                run_id=request.caller_run_id,
                activity_id=request.caller_activity_id or "",
            )
            # The caller's attempt then times out instead: the same retry, later.
            with contextlib.suppress(Exception):
                await handle.fail(
                    ApplicationError(
                        f"hand-off of {request.request_id} to {shard} failed: {err!r}",
                        type=errors.HAND_OFF_FAILED,
                        category=ApplicationErrorCategory.BENIGN,
                    )
                )

    @activity.defn(name=WITHDRAW_ACTIVITY)
    async def withdraw(self, write: WriteInput) -> WriteAck:
        """Settle a write whose deadline passed: withdrawn, or the outcome it already had.

        Update-with-start: a shard that is not running (never got the write, or was stopped)
        is started and answers for itself. The shard answers at once; ``WriteInFlight`` (its
        write is in a flush, or the request table is settling it) and ``BatcherRollingOver``
        fail this attempt with their type, as does any other failure (the server's in-flight
        update limit, no batcher worker): the caller's retry policy asks again.
        """
        request, _ = self._validated(write)
        workflow_id = self._shard_id(request)
        gate = self._withdrawing.setdefault(workflow_id, asyncio.Semaphore(WITHDRAWALS_PER_SHARD))
        if gate.locked():
            # A storm of deadlines: refuse at once (spread by jitter) rather than queue here.
            await asyncio.sleep(random.uniform(0.0, RETRY_JITTER_SECONDS))
            raise ApplicationError(
                f"{WITHDRAWALS_PER_SHARD} withdrawals already in flight to {workflow_id}",
                type=errors.BATCHER_OVERLOADED,
                category=ApplicationErrorCategory.BENIGN,
            )
        async with gate:
            return await self._send_withdrawal(request, workflow_id)

    async def _send_withdrawal(self, request: WriteRequest, workflow_id: str) -> WriteAck:
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            BATCHER_WORKFLOW,
            id=workflow_id,
            task_queue=activity.info().task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_timeout=BATCHER_TASK_TIMEOUT,
        )
        try:
            ack: WriteAck = await activity.client().execute_update_with_start_workflow(
                WITHDRAW_UPDATE,
                WithdrawRequest(request.request_id, request.table),
                start_workflow_operation=start,
                result_type=WriteAck,
                rpc_timeout=WITHDRAW_RPC_TIMEOUT,
            )
        except Exception as err:
            # The start operation holds the same failure: retrieve it here, or it is logged
            # when collected, from whichever thread collects it (a workflow's, under load long
            # enough to trip its deadlock detector).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(start.workflow_handle(), timeout=0.1)
            cause = getattr(err, "cause", None) or err
            kind = cause.type if isinstance(cause, ApplicationError) else None
            if kind not in _ASK_AGAIN:
                # Refusals of the server (in-flight update limit) come to many callers at
                # once: a jittered pause spreads their retries.
                await asyncio.sleep(random.uniform(0.0, RETRY_JITTER_SECONDS))
            activity.logger.info("withdraw of %s: %r; retrying", request.request_id, cause)
            raise ApplicationError(
                f"could not settle {request.request_id} with {workflow_id}: {cause!r}",
                type=kind if kind in _ASK_AGAIN else errors.WRITE_OUTCOME_UNKNOWN,
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        return ack
