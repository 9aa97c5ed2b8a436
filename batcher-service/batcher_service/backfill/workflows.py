"""The backfill workflow: validate, plan, one long-running copy activity per partition."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from batcher_service import errors
    from batcher_service.backfill.payloads import (
        BackfillInput,
        BackfillPlan,
        BackfillResult,
        BackfillStatus,
        CopyPartitionInput,
        PartitionResult,
        PlanInput,
        SourceSpec,
    )
    from batcher_service.backfill.sources import source_name_problem
    from batcher_service.names import BACKFILL_PROGRESS_QUERY, BACKFILL_WORKFLOW

# Bad input is never retried; everything else (a worker crash, a dropped connection) is.
_NON_RETRYABLE = [
    errors.BACKFILL_INVALID_INPUT,
    errors.BACKFILL_SOURCE_UNREACHABLE,
    errors.BACKFILL_SOURCE_NOT_FOUND,
    errors.BACKFILL_KEY_NOT_FOUND,
    errors.BACKFILL_KEY_NOT_UNIQUE,
    errors.BACKFILL_KEY_NOT_ORDERABLE,
    errors.BACKFILL_TARGET_INCOMPATIBLE,
    errors.BACKFILL_BAD_ROW,
    errors.BACKFILL_SOURCE_REFUSED,
    errors.BACKFILL_SOURCE_UNKNOWN,
]
_SHORT_TIMEOUT = timedelta(minutes=10)
_SHORT_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=_NON_RETRYABLE,
)


@workflow.defn(name=BACKFILL_WORKFLOW)
class BackfillWorkflow:
    """A handful of history events whatever the row count: rows never pass through here."""

    def __init__(self) -> None:
        self._status = BackfillStatus()

    @workflow.query(name=BACKFILL_PROGRESS_QUERY)
    def progress(self) -> BackfillStatus:
        return self._status

    @workflow.run
    async def run(self, job: BackfillInput) -> BackfillResult:
        # A URL in the job is refused before any activity: no attempt copies it further.
        problem = source_name_problem(job.source)
        if problem is not None:
            raise problem
        spec: SourceSpec = await workflow.execute_activity(
            "backfill_validate",
            job,
            result_type=SourceSpec,
            start_to_close_timeout=_SHORT_TIMEOUT,
            retry_policy=_SHORT_RETRY,
        )
        plan: BackfillPlan = await workflow.execute_activity(
            "backfill_plan",
            PlanInput(job, spec),
            result_type=BackfillPlan,
            start_to_close_timeout=_SHORT_TIMEOUT,
            retry_policy=_SHORT_RETRY,
        )
        self._status.partitions = len(plan.ranges)
        self._status.rows_total_estimate = plan.rows_estimate
        rate = job.rate_limit / len(plan.ranges) if job.rate_limit else None
        results = await asyncio.gather(
            *(
                self._copy(
                    CopyPartitionInput(
                        job.source, spec, job.target_table, job.batch_size, rate, rng
                    ),
                    job.heartbeat_timeout_seconds,
                )
                for rng in plan.ranges
            )
        )
        return BackfillResult(
            rows_read=sum(r.rows_read for r in results),
            rows_inserted=sum(r.rows_inserted for r in results),
            batches=sum(r.batches for r in results),
            partitions=list(results),
        )

    async def _copy(self, part: CopyPartitionInput, heartbeat_seconds: float) -> PartitionResult:
        result: PartitionResult = await workflow.execute_activity(
            "backfill_copy_partition",
            part,
            result_type=PartitionResult,
            # Hours of copying are fine; a dead worker is noticed within one heartbeat timeout
            # and the retry resumes from the last heartbeat's cursor.
            start_to_close_timeout=timedelta(days=7),
            heartbeat_timeout=timedelta(seconds=heartbeat_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(minutes=1),
                non_retryable_error_types=_NON_RETRYABLE,
            ),
            # On cancel, wait for the batch in flight to commit and the activity to stop.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        self._status.completed.append(result)
        return result
