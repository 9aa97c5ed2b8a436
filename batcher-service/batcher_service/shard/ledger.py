"""What a shard knows of each request sent to it: buffered, dropped as a copy, answered."""

from __future__ import annotations

from batcher_service.shard.buffer import RequestBuffer, Seen
from batcher_service.shard.metrics import BatcherMetrics
from batcher_service.shard.pacing import FlushPacer
from batcher_service.shard.settled import SettledAcks
from batcher_service.shard.state import (
    BatcherConfig,
    BatcherStats,
    FlushInput,
    FlushResult,
    SettledAck,
)
from batcher_service.shard.withdrawals import Withdrawals
from write_batcher import errors
from write_batcher._spans import record_span
from write_batcher.contract import AckReport, WriteAck, WriteOutcome, WriteRequest

# What a run may carry into the next (one event; Temporal's hard limit is 2 MiB): past it
# new writes are dropped as overloaded, and the callers' workers send them again.
MAX_CARRY_BYTES = 1_500_000


class RequestLedger:
    """Deterministic workflow state: takes requests in and holds the answer for each.

    It decides what a request sent to the shard becomes (buffered, a copy of one it has, or
    dropped while full), answers the ack query, and turns a flush's result into acks.
    """

    def __init__(
        self,
        config: BatcherConfig,
        *,
        buffer: RequestBuffer,
        settled: SettledAcks,
        withdrawals: Withdrawals,
        stats: BatcherStats,
        pacer: FlushPacer,
        metrics: BatcherMetrics,
    ) -> None:
        self.config = config
        self._buffer = buffer
        self._settled = settled
        self._withdrawals = withdrawals
        self._stats = stats
        self._pacer = pacer
        self._metrics = metrics

    def held_ack(self, request_id: str) -> WriteAck | None:
        return self._settled.get(request_id)

    def carried_acks(self, now: float) -> list[SettledAck]:
        return self._settled.carry(now)

    def report(self, request_ids: list[str]) -> AckReport:
        """What became of these requests: their acks, or still to be written; others unknown."""
        report = AckReport()
        for rid in request_ids:
            if self._buffer.seen(rid) in (Seen.PENDING, Seen.INFLIGHT):
                report.pending.append(rid)
            elif (ack := self._settled.get(rid)) is not None:
                report.acks.append(ack)
        return report

    def accept(self, request: WriteRequest, now: float) -> None:
        """Buffers a request, or holds the answer owed at once when it is not buffered."""
        ack = self._answer_now(request, now)
        if ack is not None:
            self._settled.add(ack, now)

    def _answer_now(self, request: WriteRequest, now: float) -> WriteAck | None:
        rid = request.request_id
        if rid in self._withdrawals:
            self._metrics.dropped("withdrawn")
            return WriteAck(
                rid,
                WriteOutcome.REJECTED,
                error_type=errors.WRITE_WITHDRAWN,
                error_message="withdrawn by its caller after its deadline; not written",
            )
        seen = self._buffer.seen(rid)
        settled = self._settled.get(rid)
        # A rejected request sent again is written again: its cause may have been fixed.
        if settled is not None and settled.outcome is WriteOutcome.REJECTED:
            settled = None
        if seen in (Seen.PENDING, Seen.INFLIGHT, Seen.WRITTEN) or settled is not None:
            self._stats.duplicates_dropped += 1
            self._metrics.dropped("duplicate")
            if seen in (Seen.PENDING, Seen.INFLIGHT):
                # The original's answer, still to come, is the answer to both.
                return None
            batch_id = settled.batch_id if settled is not None else None
            return WriteAck(rid, WriteOutcome.ALREADY_WRITTEN, batch_id)
        buffer = self._buffer
        if len(buffer) >= self.config.max_pending or buffer.bytes >= MAX_CARRY_BYTES:
            # Not taken, and no answer: to its caller's worker the request is unknown here,
            # so it sends it again, backing off, until the caller's deadline.
            self._stats.overloaded_rejections += 1
            self._metrics.dropped("overloaded")
            return None
        buffer.add(request, now)
        self._pacer.arrived()
        self._metrics.pending(len(buffer))
        # A span (not a log line) so the write's trace shows which batcher took it.
        record_span(
            "BufferWrite",
            {"write_batcher.request_id": rid, "write_batcher.pending": len(buffer)},
        )
        return None

    def record(self, flush: FlushInput, result: FlushResult, now: float) -> None:
        """A flush returned (or failed for good): its counts, and every request's ack."""
        stats = self._stats
        stats.batches += 1
        stats.rows_written += result.written
        stats.rows_already_written += result.already_written
        stats.rows_key_exists += result.key_exists
        stats.rows_superseded += result.superseded
        stats.rows_rejected += result.rejected
        stats.rows_dead_lettered += result.dead_lettered
        stats.dead_letter_failures += result.dead_letter_failures
        stats.largest_batch = max(stats.largest_batch, len(flush.requests))
        # The plain "written by this batch" acks are implied by the result, the rest listed.
        exceptions = {a.request_id: a for a in result.exceptions}
        for request in flush.requests:
            rid = request.request_id
            ack = exceptions.get(rid) or WriteAck(rid, WriteOutcome.WRITTEN, flush.batch_id)
            self._settled.add(ack, now)
        self._buffer.settle(flush.requests, result.rejected_ids)
        self._withdrawals.settled(r.request_id for r in flush.requests)
        self._metrics.flushed(flush, result)
