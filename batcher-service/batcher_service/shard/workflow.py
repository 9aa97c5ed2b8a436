"""The batcher workflow: buffers write requests from signals, flushes them in bulk, acks callers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from batcher_service import errors as batcher_errors
    from batcher_service import names
    from batcher_service.shard.activities import BatcherActivities
    from batcher_service.shard.buffer import RequestBuffer
    from batcher_service.shard.flush_options import FLUSH_RETRY, failure_text, reject_all
    from batcher_service.shard.ledger import RequestLedger
    from batcher_service.shard.metrics import BatcherMetrics
    from batcher_service.shard.pacing import FlushPacer
    from batcher_service.shard.policy import FlushPolicy
    from batcher_service.shard.settled import SettledAcks
    from batcher_service.shard.state import BatcherConfig, BatcherState, BatcherStats, FlushInput
    from batcher_service.shard.withdrawal_desk import WithdrawalDesk
    from batcher_service.shard.withdrawals import Withdrawals
    from write_batcher import contract, errors
    from write_batcher._spans import FLUSH_SPAN, detached, span
    from write_batcher.contract import (
        WithdrawRequest,
        WriteAck,
        WriteRequestBatch,
    )

# Short runs: a signal racing the continue-as-new makes the SDK replay the whole run before
# it can try again; the server would only suggest it at 4,096 events.
MAX_HISTORY_EVENTS = 1_000


@workflow.defn(name=contract.BATCHER_WORKFLOW)
class WriteBatcherWorkflow:
    """One shard's batcher: size- or time-triggered flushes, one transaction each."""

    @workflow.init
    def __init__(self, state: BatcherState | None = None) -> None:
        state = state or BatcherState()
        self._config = state.config or BatcherConfig()
        # Signals that arrive before the run knows its config wait for it (the first run only:
        # later ones start with the config their predecessor used).
        self._config_known = state.config is not None
        self._unjudged: list[WriteRequestBatch] = []
        self._buffer = RequestBuffer(
            state.pending, state.recent_request_ids, self._config.dedup_window
        )
        self._withdrawals = Withdrawals(state.withdrawn, state.settling, state.in_doubt)
        self._stats = state.stats
        self._stats.signals_this_run = 0
        self._pacer = FlushPacer(self._config, state.last_flush_started_at, state.arrival_rate)
        self._failed_in_a_row = state.failed_flushes_in_a_row
        self._shutdown = state.shutting_down
        # Leaving the main loop: new withdrawals are refused (their senders retry on the next
        # run), so every update this run accepted is answered before it ends.
        self._closing = False
        self._policy = FlushPolicy(self._config, self._pacer, self._buffer)
        self._inflight = 0
        self._failed_while_closing = False
        self._batch_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._metrics = BatcherMetrics(workflow.metric_meter(), workflow.info().workflow_id)
        self._metrics.pending(len(self._buffer))
        self._ledger = RequestLedger(
            self._config,
            buffer=self._buffer,
            settled=SettledAcks(state.settled),
            withdrawals=self._withdrawals,
            stats=self._stats,
            pacer=self._pacer,
            metrics=self._metrics,
            deliveries=state.deliveries,
        )
        self._desk = WithdrawalDesk(
            buffer=self._buffer,
            ledger=self._ledger,
            withdrawals=self._withdrawals,
            stats=self._stats,
            metrics=self._metrics,
            now=self._now,
            closing=lambda: self._closing,
        )

    @workflow.signal(name=contract.SUBMIT_SIGNAL)
    def submit(self, batch: WriteRequestBatch) -> None:
        """Only buffers: all I/O happens in the main loop's flushes."""
        self._stats.signals_this_run += 1
        if not self._config_known:
            self._unjudged.append(batch)
            return
        self._judge(batch)

    def _judge(self, batch: WriteRequestBatch) -> None:
        now = self._now()
        for request in batch.requests:
            self._ledger.accept(request, now)

    @workflow.update(name=contract.WITHDRAW_UPDATE)
    def withdraw(self, request: WithdrawRequest) -> WriteAck:
        """Settles a write whose caller's deadline passed, in this workflow task: withdrawn,
        the outcome it had, or ``WriteInFlight`` (ask again) while a flush or the request
        table has yet to say."""
        return self._desk.answer(request)

    @withdraw.validator
    def admit(self, request: WithdrawRequest) -> None:
        """Refused without a trace in history; the sender retries (the next run, if closing)."""
        self._desk.admit(request)

    @workflow.signal(name=names.SHUTDOWN_SIGNAL)
    def shutdown(self) -> None:
        """Drain everything pending, then complete."""
        self._shutdown = True

    @workflow.query(name=names.STATS_QUERY)
    def stats(self) -> BatcherStats:
        """A snapshot: a query handler never changes what the run carries over."""
        return dataclasses.replace(
            self._stats,
            pending=len(self._buffer),
            inflight_flushes=self._inflight,
            interval_seconds=round(self._pacer.interval(), 3),
            arrival_rate=round(self._pacer.arrival_rate, 2),
        )

    @workflow.run
    async def run(self, state: BatcherState | None = None) -> BatcherStats:
        self._config = await workflow.execute_activity_method(
            BatcherActivities.load_config, start_to_close_timeout=timedelta(seconds=10)
        )
        self._buffer.window = self._config.dedup_window
        self._pacer.config = self._config
        self._policy.config = self._config
        self._ledger.config = self._config
        self._config_known = True
        for batch in self._unjudged:
            self._judge(batch)
        self._unjudged.clear()
        while not self._shutdown and not self._should_continue_as_new():
            await self._wait_for_work()
            self._start_flushes()
            self._desk.start()
        await self._close()
        await self._desk.stopped()
        # A shutdown completes only once every withdrawal is in the request table.
        drained = self._shutdown and not self._failed_while_closing and await self._desk.drain()
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Writes that arrived while the withdrawals were recorded are drained by the next run.
        if drained and not len(self._buffer):
            return self.stats()
        self._stats.runs += 1
        self._metrics.continued_as_new()
        # Detached: the next run's spans start a trace of their own, not one more child in
        # the trace of the write that first started this shard. The task timeout explicit: a
        # shard started by an older version keeps Temporal's 10 s default else.
        with detached():
            workflow.continue_as_new(
                self._carry_state(), task_timeout=contract.BATCHER_TASK_TIMEOUT
            )

    async def _close(self) -> None:
        """Flush what must not be carried over and wait for every flush in flight.

        Bounded: each flush ends within BATCH_FLUSH_TIMEOUT_SECONDS, and once one fails the
        run stops flushing and hands everything over (a drain goes on in the next run).
        Signals are still taken meanwhile; only withdrawals are refused (and resent). A record
        of withdrawals under way ends within its own timeout.
        """
        self._closing = True
        policy = "drain" if self._shutdown else "carry"

        def may_flush() -> bool:
            # Once a flush failed while closing no other starts: the rest is handed over.
            return not self._failed_while_closing and self._flushable(policy)

        # Each pass starts a flush or waits on a condition that is false when the wait begins:
        # the loop never spins within one workflow task.
        while True:
            if not self._failed_while_closing:
                self._start_flushes(policy)
            if self._inflight == 0 and (
                self._failed_while_closing or not self._wants_flush(policy, ignore_clock=True)
            ):
                return
            if self._inflight == 0:
                # Only the clock or a new message can make a flush due.
                wait = self._policy.carry_time(self._now()) - self._now()
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        may_flush, timeout=timedelta(seconds=max(wait, 0.01))
                    )
            else:

                def flush_ended(inflight: int = self._inflight) -> bool:
                    return self._inflight < inflight or may_flush()

                await workflow.wait_condition(flush_ended)

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

    def _wants_flush(self, policy: str, *, ignore_clock: bool = False) -> bool:
        return self._policy.wants(policy, self._now(), ignore_clock=ignore_clock)

    def _flushable(self, policy: str) -> bool:
        return self._inflight < self._config.max_inflight_flushes and self._wants_flush(policy)

    async def _wait_for_work(self) -> None:
        deadline = self._policy.next_deadline(self._now())
        slots_full = self._inflight >= self._config.max_inflight_flushes
        inflight = self._inflight

        def wake() -> bool:  # noqa: PLR0911
            if self._shutdown or self._should_continue_as_new():
                return True
            if slots_full:
                return self._inflight < self._config.max_inflight_flushes
            if self._delivery_due() or self._desk.startable():
                return True
            # Everything pending waits for keys a flush holds: its end frees them.
            if deadline is None and inflight and self._inflight != inflight:
                return True
            if (
                self._config.mode == "fixed"
                and self._policy.size_due()
                and self._buffer.takeable()
                and self._now() >= self._pacer.held_until
            ):
                return True
            # The server fires sub-second timers late: a message that arrives once the flush
            # is due starts it.
            if deadline is not None and self._now() >= deadline:
                return True
            return self._policy.next_deadline(self._now()) != deadline

        timeout = None
        if deadline is not None and not slots_full:
            timeout = max(deadline - self._now(), 0.0)
            if timeout == 0.0:
                return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                wake, timeout=None if timeout is None else timedelta(seconds=timeout)
            )

    def _delivery_due(self) -> bool:
        # Answers owed ride on the next flush; with none in flight, one starts for them alone.
        return bool(self._ledger.deliveries) and self._inflight == 0

    def _start_flushes(self, policy: str = "due") -> None:
        while self._inflight < self._config.max_inflight_flushes and self._wants_flush(policy):
            self._start_flush()
            if self._config.mode == "adaptive" and policy != "drain":
                break
        if self._delivery_due():
            self._start_flush(with_requests=False)

    # -- flushing -----------------------------------------------------------------------------

    def _start_flush(self, *, with_requests: bool = True) -> None:
        batch: list[contract.WriteRequest] = []
        if with_requests:
            batch = self._buffer.take(self._config.max_batch_size, self._config.max_batch_bytes)
        self._metrics.pending(len(self._buffer))
        self._batch_seq += 1
        info = workflow.info()
        batch_id = f"{info.workflow_id}/{info.run_id[:8]}/{self._batch_seq}"
        self._inflight += 1
        if batch:
            self._pacer.flush_started(self._now())
        flush = FlushInput(batch_id, batch, self._ledger.take_deliveries())
        task = asyncio.create_task(self._flush(flush), name=f"flush {batch_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, flush: FlushInput) -> None:
        # Under the batch's first traced write, linked to the others: each write's trace
        # reaches the flush that wrote it (by parent or by link).
        traced = [r.trace_parent for r in flush.requests if r.trace_parent]
        attributes: dict[str, str | int] = {
            "write_batcher.batch_id": flush.batch_id,
            "write_batcher.request_count": len(flush.requests),
        }
        with span(FLUSH_SPAN, attributes, parent=next(iter(traced), None), links=traced[1:]):
            await self._run_flush(flush)

    async def _run_flush(self, flush: FlushInput) -> None:
        timeout = timedelta(seconds=self._config.flush_timeout_seconds)
        try:
            result = await workflow.execute_activity_method(
                BatcherActivities.flush,
                flush,
                start_to_close_timeout=timeout,
                schedule_to_close_timeout=timeout,
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=FLUSH_RETRY,
            )
        except ActivityError as err:
            self._flush_failed(flush, err)
        else:
            if flush.requests:  # one that only delivered answers says nothing of the database
                self._failed_in_a_row = 0
                self._pacer.held_until = float("-inf")
            self._ledger.record(flush, result, self._now())
        finally:
            self._inflight -= 1
            self._desk.flush_ended(flush)

    def _flush_failed(self, flush: FlushInput, err: ActivityError) -> None:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        # Whether its answers reached their callers is unknown: owed again (a second answer
        # to an activity that already has one is refused by the server, harmlessly).
        self._ledger.owe(flush.deliveries)
        if kind == errors.BAD_BATCH:
            # A fault in the flush itself, not the database: every request gets an answer.
            self._ledger.record(flush, reject_all(flush, err), self._now(), delivered=False)
            return
        # The database could not take it within the flush timeout: nothing is lost, the
        # requests are pending again (and withdrawable).
        workflow.logger.warning(
            "flush %s ended without writing: %s", flush.batch_id, failure_text(err)
        )
        self._buffer.requeue(flush.requests, self._now())
        if kind == batcher_errors.FLUSH_IN_DOUBT:
            self._withdrawals.doubt(r.request_id for r in flush.requests)
        self._failed_in_a_row += 1
        self._stats.flushes_failed += 1
        self._pacer.failed(self._now(), self._failed_in_a_row)
        self._metrics.flush_failed()
        self._metrics.pending(len(self._buffer))
        if self._closing:
            self._failed_while_closing = True

    def _carry_state(self) -> BatcherState:
        return BatcherState(
            pending=self._buffer.pending(),
            recent_request_ids=self._buffer.recent(),
            settled=self._ledger.carried_acks(self._now()),
            # Each part within its share of the input (carry.py): it stays under 1 MiB. The
            # unrecorded withdrawals are bounded where they are taken, never trimmed here.
            deliveries=self._ledger.carried_deliveries(),
            withdrawn=self._withdrawals.withdrawn(),
            settling=self._withdrawals.settling_requests(),
            stats=self._stats,
            last_flush_started_at=self._pacer.last_flush_started_at,
            arrival_rate=self._pacer.arrival_rate,
            # A shutdown that arrived while this run was closing carries over.
            shutting_down=self._shutdown,
            failed_flushes_in_a_row=self._failed_in_a_row,
            in_doubt=self._withdrawals.doubted(
                p.request.request_id for p in self._buffer.pending()
            ),
            config=self._config,
        )
