"""A shard's answer to withdrawals: at once, never waiting for a flush; recorded durably."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from batcher_service.shard.activities import BatcherActivities
    from batcher_service.shard.buffer import RequestBuffer, Seen
    from batcher_service.shard.flush_options import failure_text
    from batcher_service.shard.ledger import RequestLedger
    from batcher_service.shard.metrics import BatcherMetrics
    from batcher_service.shard.state import (
        BatcherStats,
        FlushInput,
        RecordWithdrawals,
        RequestLookup,
    )
    from batcher_service.shard.withdrawals import Withdrawals
    from write_batcher import errors
    from write_batcher.contract import WithdrawRequest, WriteAck, WriteOutcome

# One record of withdrawals in the request table: a database slower than this is retried by
# the next record, after a pause; the withdrawals it holds are answered "ask again" meanwhile.
RECORD_TIMEOUT = timedelta(seconds=10)
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=2)
)
RECORD_PAUSE_MAX_SECONDS = 10.0


def _ask_again(request_id: str, why: str) -> ApplicationError:
    return ApplicationError(f"{request_id}: {why}; ask again shortly", type=errors.WRITE_IN_FLIGHT)


def _as_answer(ack: WriteAck) -> WriteAck:
    """A held ack as the answer to a withdrawal: a refused copy of a withdrawn write is
    itself withdrawn."""
    if ack.outcome is WriteOutcome.REJECTED and ack.error_type == errors.WRITE_WITHDRAWN:
        return WriteAck(ack.request_id, WriteOutcome.WITHDRAWN, ack.batch_id)
    return ack


class WithdrawalDesk:
    """Deterministic workflow code: answers each withdrawal in the workflow task that takes
    it (withdrawn, its outcome, or ``WriteInFlight``: ask again), and records withdrawals in
    the request table from a task of its own, one record activity at a time."""

    def __init__(
        self,
        *,
        buffer: RequestBuffer,
        ledger: RequestLedger,
        withdrawals: Withdrawals,
        stats: BatcherStats,
        metrics: BatcherMetrics,
        now: Callable[[], float],
        closing: Callable[[], bool],
    ) -> None:
        self._buffer = buffer
        self._ledger = ledger
        self._withdrawals = withdrawals
        self._stats = stats
        self._metrics = metrics
        self._now = now
        self._closing = closing
        self._recording: asyncio.Task[None] | None = None
        self._records = 0

    # -- answering ------------------------------------------------------------------------

    def admit(self, request: WithdrawRequest) -> None:
        """Validator: read-only; what it refuses leaves no trace in history."""
        if self._closing():
            raise ApplicationError(
                "this batcher run is handing over to its next run; send again",
                type=errors.BATCHER_ROLLING_OVER,
            )
        rid = request.request_id
        if self._withdrawals.settling(rid):
            raise _ask_again(rid, "the request table is settling it")
        if self._buffer.seen(rid) is Seen.INFLIGHT and self._withdrawals.asked(rid):
            raise _ask_again(rid, "its write is in a flush")

    def answer(self, request: WithdrawRequest) -> WriteAck:
        """Withdrawn, the outcome it had, or WriteInFlight; never waits."""
        rid = request.request_id
        if rid in self._withdrawals:
            return WriteAck(rid, WriteOutcome.WITHDRAWN)
        if self._withdrawals.settling(rid):
            raise _ask_again(rid, "the request table is settling it")
        seen = self._buffer.seen(rid)
        if seen is Seen.INFLIGHT:
            # Settled when its flush ends: written, or withdrawn then (see flush_ended).
            self._withdrawals.ask(rid)
            raise _ask_again(rid, "its write is in a flush")
        if seen is Seen.PENDING:
            if self._withdrawals.full():
                raise _ask_again(rid, "too many withdrawals not yet recorded")
            ack = self._withdraw_pending(rid)
            if ack is None:
                raise _ask_again(rid, "its last flush's commit is in doubt")
            return ack
        held = self._ledger.held_ack(rid)
        if held is not None:
            return _as_answer(held)
        # Only the request table knows: written long ago, withdrawn before, or never seen.
        if self._withdrawals.full():
            raise _ask_again(rid, "too many withdrawals not yet recorded")
        self._withdrawals.settle(rid, request.table or "")
        raise _ask_again(rid, "the request table is settling it")

    def _withdraw_pending(self, rid: str) -> WriteAck | None:
        """Take a pending write out: withdrawn now, or (commit in doubt) to be settled."""
        request = self._buffer.withdraw(rid)
        assert request is not None
        self._metrics.pending(len(self._buffer))
        if self._withdrawals.in_doubt(rid):
            self._withdrawals.settle(rid, request.table)
            return None
        self._withdrawals.add(rid, request.table)
        self._counted_withdrawn()
        return WriteAck(rid, WriteOutcome.WITHDRAWN)

    def _counted_withdrawn(self) -> None:
        self._stats.rows_withdrawn += 1
        self._metrics.withdrawn()

    def flush_ended(self, flush: FlushInput) -> None:
        """Writes asked for while in this flush: a write handed back to the buffer is
        withdrawn now, so the next ask is answered (the rest hold the flush's acks)."""
        for request in flush.requests:
            rid = request.request_id
            if not self._withdrawals.unask(rid):
                continue
            if self._buffer.seen(rid) is Seen.PENDING and not self._withdrawals.full():
                ack = self._withdraw_pending(rid)
                if ack is not None:
                    self._ledger.hold(ack, self._now())

    # -- recording ------------------------------------------------------------------------

    def start(self) -> None:
        """Start recording what is unrecorded, unless a record is under way or closing."""
        if self._recording is None and self._withdrawals.unrecorded() and not self._closing():
            self._recording = asyncio.create_task(self._record_all(), name="record withdrawals")

    def startable(self) -> bool:
        return self._recording is None and self._withdrawals.unrecorded()

    async def stopped(self) -> None:
        """Wait for a record under way (it ends within RECORD_TIMEOUT once closing)."""
        await workflow.wait_condition(lambda: self._recording is None)

    async def drain(self) -> bool:
        """Shutting down: record what is unrecorded (until one record fails); whether all is.

        A run must not complete holding withdrawals the request table lacks: their copies
        would be written by a later run. Not drained, it continues-as-new instead.
        """
        await self.stopped()
        while self._withdrawals.unrecorded():
            if not await self._record_once():
                return False
        return True

    async def _record_all(self) -> None:
        failures = 0
        try:
            while self._withdrawals.unrecorded() and not self._closing():
                if await self._record_once():
                    failures = 0
                    continue
                failures += 1
                pause = min(0.5 * 2**failures, RECORD_PAUSE_MAX_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._closing, timeout=timedelta(seconds=pause))
        finally:
            self._recording = None

    async def _record_once(self) -> bool:
        self._records += 1
        info = workflow.info()
        record = RecordWithdrawals(
            f"{info.workflow_id}/{info.run_id[:8]}/withdrawn-{self._records}",
            self._withdrawals.to_record(),
        )
        try:
            found = await workflow.execute_activity_method(
                BatcherActivities.record_withdrawals,
                record,
                schedule_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=RECORD_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("withdrawals not recorded: %s", failure_text(err))
            return False
        self._recorded(found)
        return True

    def _recorded(self, found: list[RequestLookup]) -> None:
        now = self._now()
        for lookup in found:
            rid = lookup.request_id
            if lookup.outcome is None:
                continue  # not recorded (pruned at that instant?): the next record retries
            was_withdrawn = self._withdrawals.recorded(rid)
            if was_withdrawn is None:
                continue
            ack = WriteAck(rid, lookup.outcome, lookup.batch_id)
            if lookup.outcome is WriteOutcome.WITHDRAWN:
                if not was_withdrawn:
                    self._counted_withdrawn()
            elif was_withdrawn:
                # Only a flush attempt that outlived its timeout can do this.
                workflow.logger.error(
                    "%s was answered withdrawn but is recorded %s by %s",
                    rid,
                    lookup.outcome,
                    lookup.batch_id,
                )
            self._ledger.hold(ack, now)
