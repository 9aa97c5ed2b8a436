"""The caller library's local activities: submit a write, withdraw it at its deadline."""

# No ``from __future__ import annotations``: a workflow sandbox decodes these dataclasses by
# their hints, and it cannot resolve names of a module it did not import itself.
import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from shared import errors
from shared._backoff import backoff
from shared._coalescer import WriteCoalescer
from shared._ids import default_partition_key
from shared.names import (
    BATCHER_WORKFLOW,
    SUBMIT_WRITE_ACTIVITY,
    WITHDRAW_UPDATE,
    WITHDRAW_WRITE_ACTIVITY,
    batcher_workflow_id,
)
from shared.payloads import WithdrawRequest, WriteAck, WriteRequest
from shared.routing import shard_for
from shared.tables import RowValidationError, TableSpec

try:
    from opentelemetry import trace
except ImportError:  # opentelemetry is optional for the caller library: no tag then
    trace = None  # type: ignore[assignment]


@dataclass
class SubmitInput:
    request_id: str
    table: str
    caller_workflow_id: str
    row: dict[str, Any]
    # Workflow time of the first submit (epoch seconds): the ack deadline counts from it.
    started_at: float
    partition_key: str | None = None


@dataclass
class SubmitResult:
    batcher_workflow_id: str
    ack_timeout_seconds: float
    # False: the deadline passed before any signal was accepted (it may still have landed).
    sent: bool = True
    error: str | None = None


@dataclass
class WithdrawInput:
    request_id: str
    batcher_workflow_id: str


@dataclass
class WithdrawResult:
    # None: the batcher could not be reached within the bound; ``error`` says why.
    ack: WriteAck | None
    error: str | None = None


@dataclass(frozen=True)
class WriteSettings:
    shards: int
    ack_timeout_seconds: float
    linger_seconds: float
    max_row_bytes: int
    batcher_task_queue: str
    batcher_id_prefix: str
    withdraw_retry_seconds: float


def _invalid(request_id: str, why: object) -> ApplicationError:
    return ApplicationError(
        f"invalid write {request_id}: {why}", type=errors.INVALID_WRITE, non_retryable=True
    )


class WriteActivities:
    """One per worker: its coalescer shares signals among the worker's concurrent callers."""

    def __init__(
        self, client: Client, tables: Mapping[str, TableSpec], settings: WriteSettings
    ) -> None:
        self._client = client
        self._tables = dict(tables)
        self._settings = settings
        self._coalescer = WriteCoalescer(
            client, task_queue=settings.batcher_task_queue, linger_seconds=settings.linger_seconds
        )

    def _validate(self, req: SubmitInput) -> tuple[WriteRequest, int]:
        spec = self._tables.get(req.table)
        if spec is None:
            known = ", ".join(sorted(self._tables)) or "none"
            raise _invalid(req.request_id, f"unknown table {req.table!r} (known: {known})")
        try:
            spec.validate(req.row)
        except RowValidationError as err:
            raise _invalid(req.request_id, f"table {req.table!r}: {err}") from None
        size = len(json.dumps(req.row, separators=(",", ":"), ensure_ascii=False).encode())
        if size > self._settings.max_row_bytes:
            raise _invalid(
                req.request_id,
                f"row is {size} bytes, the limit (MAX_ROW_BYTES) is {self._settings.max_row_bytes}",
            )
        if req.partition_key == "":
            raise _invalid(req.request_id, "partition_key is empty")
        partition = req.partition_key or default_partition_key(spec, req.row, req.request_id)
        request = WriteRequest(
            req.request_id, req.table, req.caller_workflow_id, partition, dict(req.row)
        )
        return request, size

    @activity.defn(name=SUBMIT_WRITE_ACTIVITY)
    async def submit(self, req: SubmitInput) -> SubmitResult:
        """Validate strictly, route, hand over in a shared signal; retried until the deadline."""
        if trace is not None:
            # Tags the interceptor's RunActivity span: find a write's trace by its request id.
            trace.get_current_span().set_attribute("write_batcher.request_id", req.request_id)
        request, size = self._validate(req)
        settings = self._settings
        shard = shard_for(request.partition_key, settings.shards)
        workflow_id = batcher_workflow_id(shard, settings.batcher_id_prefix)
        deadline = req.started_at + settings.ack_timeout_seconds
        delays = backoff(first=0.2, cap=5.0)
        while True:
            try:
                async with asyncio.timeout(max(deadline - time.time(), 0.001)):
                    await self._coalescer.send(workflow_id, request, size)
            except Exception as err:
                # A copy may have landed anyway: the batcher drops duplicates, and past the
                # deadline the caller's withdraw settles it.
                reason = "deadline passed" if isinstance(err, TimeoutError) else repr(err)
                pause = next(delays)
                if time.time() + pause >= deadline:
                    return SubmitResult(
                        workflow_id, settings.ack_timeout_seconds, sent=False, error=reason
                    )
                activity.logger.warning("submit of %s failed, retrying: %s", req.request_id, err)
                await asyncio.sleep(pause)
                continue
            return SubmitResult(workflow_id, settings.ack_timeout_seconds)

    @activity.defn(name=WITHDRAW_WRITE_ACTIVITY)
    async def withdraw(self, req: WithdrawInput) -> WithdrawResult:
        """Settle a write whose deadline passed: withdrawn, or the outcome it already had.

        Update-with-start: a batcher that is not running (never got the write, or was
        stopped) is started and answers for itself. Any failure (a run rolling over, the
        server's in-flight update limit, no batcher worker) is retried for a bounded time.
        """
        give_up = time.monotonic() + self._settings.withdraw_retry_seconds
        delays = backoff()
        error = ""
        while True:
            left = give_up - time.monotonic()
            start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
                BATCHER_WORKFLOW,
                id=req.batcher_workflow_id,
                task_queue=self._settings.batcher_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            try:
                async with asyncio.timeout(max(left, 0.001)):
                    ack = await self._client.execute_update_with_start_workflow(
                        WITHDRAW_UPDATE,
                        WithdrawRequest(req.request_id),
                        start_workflow_operation=start,
                        result_type=WriteAck,
                        rpc_timeout=timedelta(seconds=max(left, 1.0)),
                    )
                return WithdrawResult(ack)
            except Exception as err:
                cause = getattr(err, "cause", None)
                error = repr(cause or err) if not isinstance(err, TimeoutError) else error
                error = error or "no answer from the batcher"
            pause = next(delays)
            if time.monotonic() + pause >= give_up:
                return WithdrawResult(None, error)
            activity.logger.info("withdraw of %s: retrying after %s", req.request_id, error)
            await asyncio.sleep(pause)
