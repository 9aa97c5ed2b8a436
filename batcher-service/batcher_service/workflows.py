"""The batcher workflow: buffers write requests from signals and flushes them in bulk."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from batcher_service.activities import BatchWriter
    from batcher_service.batcher_metrics import BatcherMetrics
    from batcher_service.buffer import RequestBuffer, Seen
    from batcher_service.pacing import FlushPacer
    from batcher_service.policy import MAX_NOTICES_PER_FLUSH, FlushPolicy
    from batcher_service.replies import MAX_PENDING_ACK_SIGNALS, reject_all, signal_acks
    from batcher_service.waiters import AckWaiters
    from shared import errors, names
    from shared.payloads import (
        AddressedAck,
        BatcherConfig,
        BatcherState,
        BatcherStats,
        FlushInput,
        FlushResult,
        WriteAck,
        WriteAckBatch,
        WriteOutcome,
        WriteRequest,
        WriteRequestBatch,
    )
    from shared.workflow_spans import record_span

# Connection trouble is retried for as long as it lasts, with capped backoff; a flush never
# gives up on rows it holds. Data errors are handled inside the activity by bisection.
FLUSH_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[errors.BAD_BATCH],
)
# Short runs: a signal racing the continue-as-new makes the SDK replay the whole run before
# it can try again; the server would only suggest it at 4,096 events (README, "Temporal's
# limits").
MAX_HISTORY_EVENTS = 1_000
# Runs recorded before it stretched the interval linearly and waited for the timer even when
# a message arrived after the flush was due.
PACING_V2 = "pacing-v2"


@workflow.defn(name=names.BATCHER_WORKFLOW)
class WriteBatcherWorkflow:
    """One shard's batcher: size- or time-triggered flushes, one bulk statement each."""

    @workflow.init
    def __init__(self, state: BatcherState | None = None) -> None:
        state = state or BatcherState()
        self._config = BatcherConfig()
        self._buffer = RequestBuffer(
            state.pending, state.recent_request_ids, self._config.dedup_window
        )
        self._notices = list(state.notices)
        self._stats = state.stats
        self._stats.signals_this_run = 0
        self._pacer = FlushPacer(self._config, state.last_flush_started_at, state.arrival_rate)
        self._shutdown = state.shutting_down
        # Leaving the main loop: new updates are refused (their senders retry on the next
        # run), so every update this run accepted is answered before it ends.
        self._closing = False
        self._wake_late = False
        self._waiters = AckWaiters()
        self._policy = FlushPolicy(self._config, self._pacer, self._buffer, self._waiters)
        # Requests that came by update, pending or in flight: their acks go back as replies.
        self._by_update: set[str] = set()
        self._inflight = 0
        self._batch_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._ack_signals = asyncio.Semaphore(MAX_PENDING_ACK_SIGNALS)
        self._metrics = BatcherMetrics(workflow.metric_meter(), workflow.info().workflow_id)
        self._metrics.pending(len(self._buffer))

    @workflow.signal(name=names.SUBMIT_SIGNAL)
    def submit(self, request: WriteRequest) -> None:
        """Only buffers: all I/O happens in the main loop's flushes."""
        self._stats.signals_this_run += 1
        self._accept_signalled(request)

    @workflow.signal(name=names.SUBMIT_BATCH_SIGNAL)
    def submit_batch(self, batch: WriteRequestBatch) -> None:
        """Several callers' writes, coalesced by their worker into one signal."""
        self._stats.signals_this_run += 1
        for request in batch.requests:
            self._accept_signalled(request)

    @workflow.update(name=names.SUBMIT_UPDATE)
    async def submit_and_wait(self, batch: WriteRequestBatch) -> WriteAckBatch:
        """Buffers like the signal, then returns every write's ack once its flush is done."""
        self._stats.signals_this_run += 1
        answers: dict[str, WriteAck] = {}
        awaited: list[str] = []
        for request in batch.requests:
            rid = request.request_id
            new = self._buffer.seen(rid) is Seen.NEW
            ack = self._accept(request)
            if ack is not None:
                answers[rid] = ack
                continue
            if new:
                self._by_update.add(rid)
            self._waiters.expect(rid)
            awaited.append(rid)
        if awaited:
            await workflow.wait_condition(lambda: self._waiters.answered(awaited))
            answers.update(self._waiters.collect(awaited))
        return WriteAckBatch(
            [answers[r.request_id] for r in batch.requests], round(self._pacer.interval(), 3)
        )

    @submit_and_wait.validator
    def admit(self, batch: WriteRequestBatch) -> None:
        """Refused without a trace in history; the sender retries and reaches the next run."""
        if self._closing:
            raise ApplicationError(
                "this batcher run is handing over to its next run; send again",
                type=errors.BATCHER_ROLLING_OVER,
            )

    def _accept_signalled(self, request: WriteRequest) -> None:
        ack = self._accept(request)
        if ack is not None:
            self._notices.append(AddressedAck(request.caller_workflow_id, ack))

    def _accept(self, request: WriteRequest) -> WriteAck | None:
        """Buffers a request; returns the answer owed at once when it is not buffered."""
        rid = request.request_id
        seen = self._buffer.seen(rid)
        if seen is Seen.HELD:
            # The original is still to be acked; the caller accepts either copy's ack.
            self._stats.duplicates_dropped += 1
            return None
        if seen is Seen.WRITTEN:
            self._stats.duplicates_dropped += 1
            return WriteAck(rid, WriteOutcome.ALREADY_WRITTEN)
        if len(self._buffer) >= self._config.max_pending:
            self._stats.overloaded_rejections += 1
            return WriteAck(
                rid,
                WriteOutcome.REJECTED,
                error_type=errors.BATCHER_OVERLOADED,
                error_message=f"batcher holds {len(self._buffer)} pending requests",
            )
        self._buffer.add(request, self._now())
        self._pacer.arrived()
        self._metrics.pending(len(self._buffer))
        # A span (not a log line) so the write's trace shows which batcher took it; the
        # SDK's helper records it replay-safely from inside the sandbox.
        record_span(
            "BufferWrite",
            {"write_batcher.request_id": rid, "write_batcher.pending": len(self._buffer)},
        )
        return None

    @workflow.signal(name=names.SHUTDOWN_SIGNAL)
    def shutdown(self) -> None:
        """Drain everything pending, then complete."""
        self._shutdown = True

    @workflow.query(name=names.STATS_QUERY)
    def stats(self) -> BatcherStats:
        self._stats.pending = len(self._buffer)
        self._stats.inflight_flushes = self._inflight
        self._stats.interval_seconds = round(self._pacer.interval(), 3)
        self._stats.arrival_rate = round(self._pacer.arrival_rate, 2)
        return self._stats

    @workflow.run
    async def run(self, state: BatcherState | None = None) -> BatcherStats:
        self._config = await workflow.execute_local_activity_method(
            BatchWriter.load_config, start_to_close_timeout=timedelta(seconds=10)
        )
        self._buffer.window = self._config.dedup_window
        self._pacer.config = self._config
        self._policy.config = self._config
        # The server fires a timer of under a second after about one second: a message that
        # arrives once the flush is due must start it, not wait for the timer.
        self._wake_late = workflow.patched(PACING_V2)
        self._pacer.square = self._wake_late
        while not self._shutdown and not self._should_continue_as_new():
            await self._wait_for_work()
            self._start_flushes()
        # Leaving this run: flush what must not be carried over, wait for every flush in flight.
        # Draining (shutdown) flushes everything. Before continue-as-new only what is too big to
        # carry, or what an update waits on, is flushed: under a steady flood of signals,
        # flushing everything due would keep a flush in flight forever and the run never end.
        self._closing = True
        policy = "drain" if self._shutdown else "carry"
        while True:
            self._start_flushes(policy)
            if self._inflight == 0 and not self._wants_flush(policy, ignore_clock=True):
                break
            timeout = None
            if self._inflight == 0:
                wait = self._policy.carry_time(self._now(), len(self._notices)) - self._now()
                timeout = timedelta(seconds=max(wait, 0.01))
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._inflight == 0 or self._flushable(policy), timeout=timeout
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        if policy == "drain":
            return self.stats()
        self._stats.runs += 1
        self._metrics.continued_as_new()
        workflow.continue_as_new(self._carry_state())

    # -- deciding when to flush -------------------------------------------------------------

    def _now(self) -> float:
        return workflow.now().timestamp()

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or self._stats.signals_this_run >= self._config.max_signals_per_run
            or info.get_current_history_length() >= MAX_HISTORY_EVENTS
        )

    def _next_deadline(self) -> float | None:
        return self._policy.next_deadline(self._now(), len(self._notices))

    def _wants_flush(self, policy: str, *, ignore_clock: bool = False) -> bool:
        return self._policy.wants(
            policy, self._now(), len(self._notices), ignore_clock=ignore_clock
        )

    def _flushable(self, policy: str) -> bool:
        return self._inflight < self._config.max_inflight_flushes and self._wants_flush(policy)

    async def _wait_for_work(self) -> None:
        deadline = self._next_deadline()
        slots_full = self._inflight >= self._config.max_inflight_flushes

        def wake() -> bool:
            if self._shutdown or self._should_continue_as_new():
                return True
            if slots_full:
                return self._inflight < self._config.max_inflight_flushes
            if self._config.mode == "fixed" and self._policy.size_due():
                return True
            if self._wake_late and deadline is not None and self._now() >= deadline:
                return True
            return self._next_deadline() != deadline

        timeout = None
        if deadline is not None and not slots_full:
            timeout = max(deadline - self._now(), 0.0)
            if timeout == 0.0:
                return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                wake, timeout=None if timeout is None else timedelta(seconds=timeout)
            )

    def _start_flushes(self, policy: str = "due") -> None:
        while self._inflight < self._config.max_inflight_flushes and self._wants_flush(policy):
            self._start_flush()
            if self._config.mode == "adaptive" and policy != "drain":
                return

    # -- flushing -----------------------------------------------------------------------------

    def _start_flush(self) -> None:
        batch = self._buffer.take(self._config.max_batch_size, self._config.max_batch_bytes)
        self._metrics.pending(len(self._buffer))
        notices, self._notices = (
            self._notices[:MAX_NOTICES_PER_FLUSH],
            self._notices[MAX_NOTICES_PER_FLUSH:],
        )
        self._batch_seq += 1
        info = workflow.info()
        batch_id = f"{info.workflow_id}/{info.run_id[:8]}/{self._batch_seq}"
        self._inflight += 1
        self._pacer.flush_started(self._now())
        flush = FlushInput(
            batch_id=batch_id,
            requests=batch,
            notices=notices,
            send_acks=self._config.ack_transport == "activity",
            reply_ids=[r.request_id for r in batch if r.request_id in self._by_update],
        )
        record_span(
            "StartFlush",
            {"write_batcher.batch_id": batch_id, "write_batcher.request_count": len(batch)},
        )
        task = asyncio.create_task(self._flush(flush), name=f"flush {batch_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, flush: FlushInput) -> None:
        failed = False
        try:
            result = await workflow.execute_activity_method(
                BatchWriter.flush,
                flush,
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=FLUSH_RETRY,
            )
        except ActivityError as err:
            result, failed = reject_all(flush, err), True
        try:
            self._record(flush, result)
            to_signal = self._waiters.answer_flush(flush, result.acks, result.rejected_ids)
            self._by_update.difference_update(flush.reply_ids)
            if failed:
                # Nothing was signalled by the failed activity: the next flush delivers them.
                self._notices.extend(to_signal)
            elif not flush.send_acks:
                await signal_acks(to_signal, self._ack_signals, self._stats)
        finally:
            self._inflight -= 1

    def _record(self, flush: FlushInput, result: FlushResult) -> None:
        stats = self._stats
        stats.batches += 1
        stats.rows_written += result.written
        stats.rows_already_written += result.already_written
        stats.rows_rejected += result.rejected
        stats.acks_sent += result.acks_sent
        stats.acks_failed += result.acks_failed
        stats.acks_replied += len(flush.reply_ids)
        stats.largest_batch = max(stats.largest_batch, len(flush.requests))
        self._buffer.settle(flush.requests, result.rejected_ids)
        self._metrics.flushed(flush, result)
        workflow.logger.debug(
            "flushed %s: %d written, %d already, %d rejected",
            result.batch_id,
            result.written,
            result.already_written,
            result.rejected,
        )

    def _carry_state(self) -> BatcherState:
        return BatcherState(
            pending=self._buffer.pending(),
            recent_request_ids=self._buffer.recent(),
            notices=self._notices,
            stats=self._stats,
            last_flush_started_at=self._pacer.last_flush_started_at,
            arrival_rate=self._pacer.arrival_rate,
            # A shutdown that arrived while this run was closing carries over.
            shutting_down=self._shutdown,
        )
