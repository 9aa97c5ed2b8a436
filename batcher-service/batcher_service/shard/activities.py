"""Batcher activities: its config, one batch's flush and its acks, recorded withdrawals."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from batcher_service import errors as batcher_errors
from batcher_service.background import running_beside
from batcher_service.postgres.pool import is_connection_error
from batcher_service.postgres.withdrawals import record_withdrawals
from batcher_service.postgres.writer import (
    BatchWriter,
    CommitInDoubt,
    DatabaseUnavailable,
    WriteReport,
)
from batcher_service.shard.delivery import DeliveryReport, deliver
from batcher_service.shard.state import (
    BatcherConfig,
    Delivery,
    FlushInput,
    FlushResult,
    RecordWithdrawals,
    RequestLookup,
)
from write_batcher import errors
from write_batcher._spans import annotate
from write_batcher.contract import WriteAck, WriteOutcome

# A flush heartbeats so a crashed worker's flush is retried elsewhere in seconds, not minutes.
HEARTBEAT_EVERY_SECONDS = 2.0
# Left of the flush's time for the reply once the database work is cut off.
FLUSH_MARGIN_SECONDS = 3.0
# Heartbeat detail of a flush whose owed answers went out: a retry does not send them again.
DELIVERED = "delivered"


async def _heartbeat_forever(details: list[str]) -> None:
    # Not at once: a heartbeat is a billable action, and most flushes end within a second.
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)
        activity.heartbeat(*details)


def _budget() -> float:
    """Seconds this attempt may spend in the database: it stops before Temporal's timeouts."""
    info = activity.info()
    limits = []
    if info.start_to_close_timeout:
        limits.append(info.start_to_close_timeout.total_seconds())
    if info.schedule_to_close_timeout:
        # Both times are the server's: this worker's wall clock is never compared with them.
        spent = (info.started_time - info.scheduled_time).total_seconds()
        limits.append(info.schedule_to_close_timeout.total_seconds() - spent)
    return max(min(limits, default=60.0) - FLUSH_MARGIN_SECONDS, 0.5)


class BatcherActivities:
    """Activities that own the PostgreSQL pool."""

    def __init__(self, writer: BatchWriter, config: BatcherConfig, pool: asyncpg.Pool) -> None:
        self._writer = writer
        self._config = config
        self._pool = pool

    @activity.defn(name="load_batcher_config")
    async def load_config(self) -> BatcherConfig:
        """The batcher's policy comes from this worker's environment, recorded in history."""
        return self._config

    @activity.defn(name="record_withdrawals")
    async def record_withdrawals(self, record: RecordWithdrawals) -> list[RequestLookup]:
        """Record each id "withdrawn" in the request table unless it was written first; the
        table, the authority on what was written, answers which."""
        try:
            async with asyncio.timeout(_budget()):
                return await record_withdrawals(self._pool, record.batch_id, record.requests)
        except TimeoutError as err:
            raise batcher_errors.database_unavailable(
                "request table too slow: withdrawals not recorded in time"
            ) from err
        except Exception as err:
            if not is_connection_error(err):
                raise
            raise batcher_errors.database_unavailable(
                f"database unreachable: {type(err).__name__}"
            ) from err

    @activity.defn(name="flush_batch")
    async def flush(self, batch: FlushInput) -> FlushResult:
        """One batch: one transaction (more statements only around bad rows), its outcomes,
        each caller's activity completed with its ack; and the answers owed to others."""
        details: list[str] = []
        async with running_beside(_heartbeat_forever(details)):
            if batch.deliveries and DELIVERED not in activity.info().heartbeat_details:
                _count_deliveries(await deliver(activity.client(), batch.deliveries))
                details.append(DELIVERED)
                activity.heartbeat(*details)
            return await self._flush(batch) if batch.requests else _empty(batch.batch_id)

    async def _flush(self, batch: FlushInput) -> FlushResult:
        began = time.monotonic()
        # The RunActivity span (OpenTelemetryPlugin's) is current: tag it so a trace search by
        # batch id finds the flush.
        annotate(
            {
                "write_batcher.batch_id": batch.batch_id,
                "write_batcher.request_count": len(batch.requests),
            }
        )
        report = WriteReport()
        try:
            async with asyncio.timeout(_budget()):
                await self._writer.write(batch.batch_id, batch.requests, report)
        except (TimeoutError, CommitInDoubt) as err:
            if isinstance(err, CommitInDoubt) or report.committing:
                raise ApplicationError(
                    f"commit of {batch.batch_id} in doubt: {err}",
                    type=batcher_errors.FLUSH_IN_DOUBT,
                    non_retryable=True,
                ) from err
            raise batcher_errors.database_unavailable(
                "database too slow or unreachable: flush cut off before Temporal's timeout"
            ) from err
        except DatabaseUnavailable as err:
            # Retryable: Temporal retries the flush until its timeout, then the workflow
            # hands its requests back to the buffer.
            raise batcher_errors.database_unavailable(f"database unreachable: {err}") from err
        except Exception as err:
            # Not the database's state and not a row's (those are rejections): a fault of
            # ours. It ends the flush at once with every request rejected, never a retry loop.
            raise ApplicationError(
                f"flush failed: {type(err).__name__}: {err}",
                type=errors.BAD_BATCH,
                non_retryable=True,
            ) from err
        acks = [report.acks[req.request_id] for req in batch.requests]
        for ack in acks:
            if ack.batch_id is None:
                ack.batch_id = batch.batch_id
        result = _result(batch.batch_id, acks, report)
        elapsed = time.monotonic() - began
        _count_deliveries(await deliver(activity.client(), _answers(batch, acks)))
        meter = activity.metric_meter()
        meter.create_histogram_float(
            "write_batcher_flush_duration_seconds", "Flush activity: the bulk write", "s"
        ).record(elapsed)
        dead = meter.create_counter(
            "write_batcher_dead_letters", "Rejected rows kept in the dead-letter table, by result"
        )
        dead.add(report.dead_lettered, {"result": "stored"})
        dead.add(report.dead_letter_failures, {"result": "failed"})
        activity.logger.info(
            "flushed batch %s: %d requests, %d written, %d already, %d rejected in %.3fs",
            batch.batch_id,
            len(batch.requests),
            result.written,
            result.already_written,
            result.rejected,
            elapsed,
            extra={"batch_id": batch.batch_id},
        )
        return result


def _answers(batch: FlushInput, acks: list[WriteAck]) -> list[Delivery]:
    """Each request's ack for the caller activity waiting on it (if one does)."""
    return [
        Delivery(req.caller_workflow_id, req.caller_run_id, req.caller_activity_id, ack)
        for req, ack in zip(batch.requests, acks, strict=True)
        if req.caller_run_id is not None and req.caller_activity_id is not None
    ]


def _count_deliveries(report: DeliveryReport) -> None:
    counter = activity.metric_meter().create_counter(
        "write_batcher_ack_deliveries",
        "Acks sent to callers' write activities, by result: delivered, gone (the activity had "
        "ended), failed (the server could not be reached; the caller sends the write again)",
    )
    for result in ("delivered", "gone", "failed"):
        counter.add(getattr(report, result), {"result": result})


def _empty(batch_id: str) -> FlushResult:
    return FlushResult(batch_id, written=0, already_written=0, rejected=0, statements=0)


def _result(batch_id: str, acks: list[WriteAck], report: WriteReport) -> FlushResult:
    outcomes = [a.outcome for a in acks]
    return FlushResult(
        batch_id=batch_id,
        written=outcomes.count(WriteOutcome.WRITTEN),
        already_written=outcomes.count(WriteOutcome.ALREADY_WRITTEN),
        rejected=outcomes.count(WriteOutcome.REJECTED),
        statements=report.statements,
        key_exists=outcomes.count(WriteOutcome.KEY_EXISTS),
        superseded=outcomes.count(WriteOutcome.SUPERSEDED),
        dead_lettered=report.dead_lettered,
        dead_letter_failures=report.dead_letter_failures,
        rejected_ids=[a.request_id for a in acks if a.outcome is WriteOutcome.REJECTED],
        exceptions=[
            a for a in acks if a.outcome is not WriteOutcome.WRITTEN or a.batch_id != batch_id
        ],
    )
