"""Batcher activities: load the batcher's config and flush one batch (write, then ack)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
from opentelemetry import trace
from temporalio import activity
from temporalio.exceptions import ApplicationError

from batcher_service.acks import AckSender
from batcher_service.writer import LedgerWriter
from shared import errors
from shared.payloads import AddressedAck, BatcherConfig, FlushInput, FlushResult, WriteOutcome

# A flush heartbeats so a crashed worker's flush is retried elsewhere in seconds, not minutes.
HEARTBEAT_EVERY_SECONDS = 2.0


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class BatchWriter:
    """Activities that own the PostgreSQL pool and the client used to ack callers."""

    def __init__(self, writer: LedgerWriter, acks: AckSender, config: BatcherConfig) -> None:
        self._writer = writer
        self._acks = acks
        self._config = config

    @activity.defn(name="load_batcher_config")
    async def load_config(self) -> BatcherConfig:
        """The batcher's policy comes from this worker's environment, recorded in history."""
        return self._config

    @activity.defn(name="flush_batch")
    async def flush(self, batch: FlushInput) -> FlushResult:
        """One batch: one bulk statement (more only around poison rows), then the acks."""
        async with _heartbeating():
            return await self._flush(batch)

    async def _flush(self, batch: FlushInput) -> FlushResult:
        began = time.monotonic()
        # The TracingInterceptor's RunActivity span is current: tag it so a trace search by
        # batch id finds the flush.
        span = trace.get_current_span()
        span.set_attribute("write_batcher.batch_id", batch.batch_id)
        span.set_attribute("write_batcher.request_count", len(batch.requests))
        try:
            report = await self._writer.write(batch.batch_id, batch.requests)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as err:
            # Retryable: Temporal retries the flush with capped backoff until it comes back.
            raise ApplicationError(
                f"database unreachable: {type(err).__name__}: {err}",
                type=errors.DATABASE_UNAVAILABLE,
            ) from err
        answers = [
            AddressedAck(req.caller_workflow_id, report.acks[req.request_id])
            for req in batch.requests
        ]
        outcomes = [a.ack.outcome for a in answers]
        result = FlushResult(
            batch_id=batch.batch_id,
            written=outcomes.count(WriteOutcome.WRITTEN),
            already_written=outcomes.count(WriteOutcome.ALREADY_WRITTEN),
            rejected=outcomes.count(WriteOutcome.REJECTED),
            statements=report.statements,
            rejected_ids=[
                a.ack.request_id for a in answers if a.ack.outcome is WriteOutcome.REJECTED
            ],
        )
        # Callers waiting in an update get their acks through the workflow, never by signal.
        replies = set(batch.reply_ids)
        result.acks = [a for a in answers if a.ack.request_id in replies]
        to_signal = [a for a in answers if a.ack.request_id not in replies]
        to_signal.extend(batch.notices)
        if batch.send_acks:
            tally = await self._acks.send(to_signal)
            result.acks_sent, result.acks_failed = tally.sent, tally.failed
        else:
            result.acks.extend(to_signal)
        elapsed = time.monotonic() - began
        activity.metric_meter().create_histogram_float(
            "write_batcher_flush_duration_seconds", "Flush activity: bulk write plus acks", "s"
        ).record(elapsed)
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
