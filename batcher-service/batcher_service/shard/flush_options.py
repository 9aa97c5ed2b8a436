"""How the batcher workflow runs its activities, and the answer when a flush fails for good."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from batcher_service import errors as batcher_errors
    from batcher_service.shard.state import FlushInput, FlushResult
    from write_batcher import errors
    from write_batcher.contract import WriteAck, WriteOutcome

# Connection trouble is retried with capped backoff until the flush timeout; then the
# workflow hands the requests back to its buffer. Data errors never get here: the activity
# rejects the rows they concern.
FLUSH_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=[errors.BAD_BATCH, batcher_errors.FLUSH_IN_DOUBT],
)


def failure_text(err: ActivityError) -> str:
    """Why an activity failed, for one log line: where Temporal gave up retrying (the
    schedule-to-close timeout), the last attempt's error too."""
    texts: list[str] = []
    cause: BaseException | None = err.cause
    while isinstance(cause, FailureError) and len(texts) < 4:
        kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        texts.append(f"{kind}: {cause.message}")
        cause = cause.cause
    return "; caused by ".join(texts) or str(err)


def reject_all(flush: FlushInput, err: ActivityError) -> FlushResult:
    """A flush that failed for good (a fault of ours): each request rejected, in order."""
    cause = err.cause
    workflow.logger.error("flush %s failed for good: %s", flush.batch_id, cause)
    error_type = cause.type if isinstance(cause, ApplicationError) else None
    acks = [
        WriteAck(
            req.request_id,
            WriteOutcome.REJECTED,
            flush.batch_id,
            error_type or errors.BAD_BATCH,
            str(cause),
        )
        for req in flush.requests
    ]
    return FlushResult(
        flush.batch_id,
        written=0,
        already_written=0,
        rejected=len(acks),
        statements=0,
        rejected_ids=[a.request_id for a in acks],
        exceptions=acks,
    )
