"""main-service activities: the business step and the hand-off of a write to its batcher."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime

from opentelemetry import trace
from temporalio import activity
from temporalio.exceptions import ApplicationError

from main_service.coalescer import WriteCoalescer
from shared import errors
from shared.names import BATCHER_ID_PREFIX, batcher_workflow_id
from shared.payloads import AuthorizeResult, PaymentRequest, SubmitResult, WriteRequest
from shared.routing import shard_for
from shared.schema import RowValidationError, validate_row


class PaymentActivities:
    """The business step of a payment."""

    @activity.defn(name="authorize_payment")
    async def authorize(self, request: PaymentRequest) -> AuthorizeResult:
        """Stands in for a payment provider call; deterministic so retries agree."""
        if request.amount_cents <= 0:
            raise ApplicationError(
                f"amount must be positive, got {request.amount_cents}",
                type=errors.INVALID_WRITE,
                non_retryable=True,
            )
        digest = hashlib.sha256(f"{request.payment_id}:{request.amount_cents}".encode())
        return AuthorizeResult(auth_code=digest.hexdigest()[:12].upper())


class WriteSubmitter:
    """Validates a write and hands it to its batcher shard, starting the shard if needed."""

    def __init__(
        self,
        coalescer: WriteCoalescer,
        *,
        shards: int,
        max_row_bytes: int,
        ack_timeout_seconds: float,
        batcher_id_prefix: str = BATCHER_ID_PREFIX,
    ) -> None:
        self._coalescer = coalescer
        self._batcher_id_prefix = batcher_id_prefix
        self._shards = shards
        self._max_row_bytes = max_row_bytes
        self._ack_timeout = ack_timeout_seconds

    def _validate(self, request: WriteRequest) -> int:
        """The row's encoded size once it is known to be valid."""
        if not request.partition_key:
            raise RowValidationError("partition key is empty")
        validate_row(request.row)
        size = len(json.dumps(request.row, separators=(",", ":")).encode())
        if size > self._max_row_bytes:
            raise RowValidationError(
                f"row is {size} bytes, the limit (MAX_ROW_BYTES) is {self._max_row_bytes}"
            )
        return size

    @activity.defn(name="submit_write")
    async def submit(self, request: WriteRequest) -> SubmitResult:
        # Tags the interceptor's RunActivity span: find a write's trace by its request id.
        trace.get_current_span().set_attribute("write_batcher.request_id", request.request_id)
        try:
            size = self._validate(request)
        except RowValidationError as err:
            raise ApplicationError(
                f"invalid write {request.request_id}: {err}",
                type=errors.INVALID_WRITE,
                non_retryable=True,
            ) from err
        shard = shard_for(request.partition_key, self._shards)
        workflow_id = batcher_workflow_id(shard, self._batcher_id_prefix)
        # Counted from the first attempt: a retried submit does not restart the caller's wait.
        waited = (datetime.now(UTC) - activity.info().scheduled_time).total_seconds()
        try:
            # Shares one message with the writes other callers in this worker send to the
            # same shard. A retry may deliver twice; the batcher drops the duplicate.
            async with asyncio.timeout(max(self._ack_timeout - waited, 0.001)):
                ack = await self._coalescer.send(workflow_id, request, size)
        except TimeoutError:
            raise ApplicationError(
                f"write {request.request_id} not confirmed within {self._ack_timeout:g}s",
                type=errors.WRITE_CONFIRMATION_TIMEOUT,
                non_retryable=True,
            ) from None
        activity.logger.debug(
            "submitted write %s to %s",
            request.request_id,
            workflow_id,
            extra={"request_id": request.request_id, "batcher_workflow_id": workflow_id},
        )
        return SubmitResult(
            batcher_workflow_id=workflow_id, ack_timeout_seconds=self._ack_timeout, ack=ack
        )
