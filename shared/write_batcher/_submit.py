"""The caller library's local activity: a write sent, its ack awaited, settled at its deadline."""

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

from write_batcher import errors
from write_batcher._acks import AckCollector
from write_batcher._backoff import backoff
from write_batcher._coalescer import WriteCoalescer
from write_batcher._ids import default_partition_key
from write_batcher._routing import shard_for
from write_batcher._settings import WriteSettings
from write_batcher.contract import (
    BATCHER_WORKFLOW,
    WITHDRAW_UPDATE,
    WRITE_ACTIVITY,
    WithdrawRequest,
    WriteAck,
    WriteRequest,
    batcher_workflow_id,
)
from write_batcher.tables import RowValidationError, TableSpec

try:
    from opentelemetry import trace
except ImportError:  # opentelemetry is optional for the caller library: no tag then
    trace = None  # type: ignore[assignment]


@dataclass
class WriteInput:
    request_id: str
    table: str
    caller_workflow_id: str
    row: dict[str, Any]
    # Workflow time of the write (epoch seconds): the ack deadline counts from it, also when
    # the activity runs again on another worker.
    started_at: float
    partition_key: str | None = None


@dataclass
class WriteReply:
    batcher_workflow_id: str
    ack_timeout_seconds: float
    # None: the deadline passed and the batcher could not be reached to settle the write
    # within the bound; ``error`` says why.
    ack: WriteAck | None
    error: str | None = None


def _invalid(request_id: str, why: object) -> ApplicationError:
    return ApplicationError(
        f"invalid write {request_id}: {why}", type=errors.INVALID_WRITE, non_retryable=True
    )


class WriteActivities:
    """One per worker: its callers' writes share signals (coalescer) and ack queries."""

    def __init__(
        self, client: Client, tables: Mapping[str, TableSpec], settings: WriteSettings
    ) -> None:
        self._client = client
        self._tables = dict(tables)
        self._settings = settings
        coalescer = WriteCoalescer(
            client,
            task_queue=settings.batcher_task_queue,
            linger_seconds=settings.submit_linger_seconds,
        )
        self._acks = AckCollector(client, coalescer, poll_seconds=settings.ack_poll_seconds)

    def _validate(self, req: WriteInput) -> tuple[WriteRequest, int]:
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
                f"row is {size} bytes, the limit (max_row_bytes) is {self._settings.max_row_bytes}",
            )
        if req.partition_key == "":
            raise _invalid(req.request_id, "partition_key is empty")
        partition = req.partition_key or default_partition_key(spec, req.row, req.request_id)
        request = WriteRequest(
            req.request_id, req.table, req.caller_workflow_id, partition, dict(req.row)
        )
        return request, size

    @activity.defn(name=WRITE_ACTIVITY)
    async def write(self, req: WriteInput) -> WriteReply:
        """Validate strictly, route, send, and return the ack or, at the deadline, settle it.

        The one call a write costs its workflow: a local activity, one marker in its history.
        """
        if trace is not None:
            # Tags the interceptor's RunActivity span: find a write's trace by its request id.
            trace.get_current_span().set_attribute("write_batcher.request_id", req.request_id)
        request, size = self._validate(req)
        settings = self._settings
        shard = shard_for(request.partition_key, settings.batcher_shards)
        workflow_id = batcher_workflow_id(shard, settings.batcher_id_prefix)
        deadline = req.started_at + settings.ack_timeout_seconds
        try:
            async with asyncio.timeout(max(deadline - time.time(), 0.001)):
                ack, sends = await self._acks.write(workflow_id, request, size)
        except TimeoutError:
            settled, error = await self._withdraw(req.request_id, workflow_id)
            return WriteReply(workflow_id, settings.ack_timeout_seconds, settled, error or None)
        if sends > 1:
            activity.metric_meter().create_counter(
                "write_batcher_caller_resends",
                "Writes sent again because their shard did not know them (full, or lost)",
            ).add(sends - 1)
        return WriteReply(workflow_id, settings.ack_timeout_seconds, ack)

    async def _withdraw(self, request_id: str, workflow_id: str) -> tuple[WriteAck | None, str]:
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
                id=workflow_id,
                task_queue=self._settings.batcher_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            try:
                async with asyncio.timeout(max(left, 0.001)):
                    ack = await self._client.execute_update_with_start_workflow(
                        WITHDRAW_UPDATE,
                        WithdrawRequest(request_id),
                        start_workflow_operation=start,
                        result_type=WriteAck,
                        rpc_timeout=timedelta(seconds=max(left, 1.0)),
                    )
                return ack, ""
            except Exception as err:
                cause = getattr(err, "cause", None)
                error = repr(cause or err) if not isinstance(err, TimeoutError) else error
                error = error or "no answer from the batcher"
            pause = next(delays)
            if time.monotonic() + pause >= give_up:
                return None, error
            activity.logger.info("withdraw of %s: retrying after %s", request_id, error)
            await asyncio.sleep(pause)
