"""What a shard knows of each request sent to it: buffered, dropped as a copy, answered."""

from __future__ import annotations

from batcher_service.shard.buffer import RequestBuffer, Seen, request_size
from batcher_service.shard.carry import DELIVERY_BYTES, PENDING_BYTES, newest_within
from batcher_service.shard.metrics import BatcherMetrics
from batcher_service.shard.pacing import FlushPacer
from batcher_service.shard.settled import SettledAcks
from batcher_service.shard.state import (
    BatcherConfig,
    BatcherStats,
    Delivery,
    FlushInput,
    FlushResult,
    SettledAck,
)
from batcher_service.shard.withdrawals import Withdrawals
from write_batcher import errors
from write_batcher._spans import BUFFER_SPAN, record_span
from write_batcher.contract import WriteAck, WriteOutcome, WriteRequest

# What a shard holds (pending and in flight, as encoded) is what a run carries into the next
# when every flush fails (carry.py): past it new writes are dropped as overloaded, and their
# callers send them again.
MAX_CARRY_BYTES = PENDING_BYTES
# Answers owed beyond this are dropped: their callers' attempts time out and send again.
MAX_DELIVERIES = 2_000
# Answers one flush delivers: one flush input is one history event.
DELIVERIES_PER_FLUSH = 1_000


# A refused sender waits at least this long, at most the longest: the time the shard needs
# to make room, so senders do not come back faster than rows leave.
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 10.0


def _delivery(
    request: WriteRequest, ack: WriteAck, *, overloaded: bool = False, retry_after: float = 0.0
) -> Delivery | None:
    if request.caller_run_id is None or request.caller_activity_id is None:
        return None  # nobody waits (a dead letter resubmitted by an operator)
    return Delivery(
        request.caller_workflow_id,
        request.caller_run_id,
        request.caller_activity_id,
        ack,
        overloaded,
        retry_after,
    )


class RequestLedger:
    """Deterministic workflow state: takes requests in and holds the answer for each.

    It decides what a request sent to the shard becomes (buffered, a copy of one it has, or
    dropped while full), turns a flush's result into held acks, and keeps the answers owed
    to callers that no flush of their own row will give (``deliveries``).
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
        deliveries: list[Delivery] | None = None,
    ) -> None:
        self.config = config
        self._buffer = buffer
        self._settled = settled
        self._withdrawals = withdrawals
        self._stats = stats
        self._pacer = pacer
        self._metrics = metrics
        self.deliveries: list[Delivery] = list(deliveries or [])

    def held_ack(self, request_id: str) -> WriteAck | None:
        return self._settled.get(request_id)

    def hold(self, ack: WriteAck, now: float) -> None:
        """An answer settled outside a flush (a withdrawal): for copies and asks again."""
        self._settled.add(ack, now)

    def carried_acks(self, now: float) -> list[SettledAck]:
        return self._settled.carry(now)

    def owe(self, deliveries: list[Delivery]) -> None:
        """Answers for the next flush to deliver (also those a failed flush did not)."""
        self.deliveries.extend(deliveries)
        if len(self.deliveries) > MAX_DELIVERIES:
            del self.deliveries[: len(self.deliveries) - MAX_DELIVERIES]

    def carried_deliveries(self) -> list[Delivery]:
        """The newest answers owed that fit the carried state's share; the rest time out."""
        return newest_within(self.deliveries, DELIVERY_BYTES)

    def take_deliveries(self) -> list[Delivery]:
        taken = self.deliveries[:DELIVERIES_PER_FLUSH]
        del self.deliveries[:DELIVERIES_PER_FLUSH]
        return taken

    def accept(self, request: WriteRequest, now: float) -> None:
        """Buffers a request, or owes its caller the answer at once when it is not buffered."""
        ack = self._answer_now(request, now)
        if ack is None:
            return
        overloaded = ack.outcome is WriteOutcome.REJECTED and ack.error_type == (
            errors.BATCHER_OVERLOADED
        )
        if not overloaded:
            self._settled.add(ack, now)
        retry_after = 0.0
        if overloaded:
            # Exponential in the sender's attempts, from the time the shard needs for room.
            backoff = 2.0 ** min(max(request.caller_attempt - 1, 0), 8)
            retry_after = min(MAX_RETRY_AFTER, self.retry_after(now) * backoff)
        delivery = _delivery(request, ack, overloaded=overloaded, retry_after=retry_after)
        if delivery is not None:
            self.owe([delivery])

    def retry_after(self, now: float) -> float:
        """How long a refused sender should wait: the flushes it takes to drain what is
        buffered, one per interval, after any hold a failing database put on flushing."""
        cfg = self.config
        batches = -(-len(self._buffer) // max(cfg.max_batch_size, 1))
        gap = max(self._pacer.interval(), cfg.min_interval_seconds)
        if cfg.mode == "fixed":
            gap = cfg.max_wait_seconds
        held = max(self._pacer.held_until - now, 0.0)
        return min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, held + batches * gap))

    def _answer_now(self, request: WriteRequest, now: float) -> WriteAck | None:
        rid = request.request_id
        settled = self._settled.get(rid)
        withdrawn = settled is not None and settled.outcome is WriteOutcome.WITHDRAWN
        if rid in self._withdrawals or withdrawn:
            self._metrics.dropped("withdrawn")
            return WriteAck(
                rid,
                WriteOutcome.REJECTED,
                error_type=errors.WRITE_WITHDRAWN,
                error_message="withdrawn by its caller after its deadline; not written",
            )
        seen = self._buffer.seen(rid)
        if self._withdrawals.settling(rid):
            # Withdrawn unless written: the request table settles it, then refuses copies.
            self._stats.duplicates_dropped += 1
            self._metrics.dropped("duplicate")
            return None
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
        size = request_size(request)
        if len(buffer) >= self.config.max_pending or buffer.held_bytes + size > MAX_CARRY_BYTES:
            # Not taken: its caller's attempt fails (retryable) and it is sent again, backing
            # off, until the caller's deadline.
            self._stats.overloaded_rejections += 1
            self._metrics.dropped("overloaded")
            return WriteAck(
                rid,
                WriteOutcome.REJECTED,
                error_type=errors.BATCHER_OVERLOADED,
                error_message=f"shard full ({len(buffer)} pending); send again later",
            )
        buffer.add(request, now, size)
        self._pacer.arrived()
        self._metrics.pending(len(buffer))
        # A span (not a log line) so the write's trace shows which batcher took it.
        record_span(
            BUFFER_SPAN,
            {"write_batcher.request_id": rid, "write_batcher.pending": len(buffer)},
            parent=request.trace_parent,
        )
        return None

    def record(
        self, flush: FlushInput, result: FlushResult, now: float, *, delivered: bool = True
    ) -> None:
        """A flush returned (or failed for good): its counts, and every request's ack.

        ``delivered``: the flush activity completed its callers' activities itself; a flush
        that failed for good did not, so the next flush owes them their acks.
        """
        if not flush.requests:
            return  # it only delivered answers owed
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
        owed: list[Delivery] = []
        for request in flush.requests:
            rid = request.request_id
            ack = exceptions.get(rid) or WriteAck(rid, WriteOutcome.WRITTEN, flush.batch_id)
            self._settled.add(ack, now)
            if not delivered and (delivery := _delivery(request, ack)) is not None:
                owed.append(delivery)
        self.owe(owed)
        self._buffer.settle(flush.requests, result.rejected_ids)
        self._withdrawals.settled(r.request_id for r in flush.requests)
        self._metrics.flushed(flush, result)
