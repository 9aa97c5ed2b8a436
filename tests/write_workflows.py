"""Workflows for the caller library's tests: callers on the public API, and a tiny batcher.

The batcher here is a real Temporal workflow under the real batcher's type name, signal, ack
query and update: it answers by table name (``refused``, ``overloaded``, ``silent``,
``late``), so the caller's every branch can be driven without a database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from write_batcher import WriteResult, contract, errors, write
    from write_batcher.contract import (
        AckQuery,
        AckReport,
        WithdrawRequest,
        WriteAck,
        WriteOutcome,
        WriteRequest,
        WriteRequestBatch,
    )

FAKE_STATE_QUERY = "fake_state"


@dataclass
class WriteCall:
    table: str
    row: dict[str, Any]
    idempotency_key: str | None = None
    partition_key: str | None = None


@dataclass
class Payment:
    payment_id: str
    amount_cents: int


@dataclass
class FakeState:
    signals: int = 0
    requests: list[WriteRequest] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)


@workflow.defn(name="WriteOne")
class WriteOne:
    @workflow.run
    async def run(self, call: WriteCall) -> WriteResult:
        return await write(
            call.table,
            call.row,
            idempotency_key=call.idempotency_key,
            partition_key=call.partition_key,
        )


@workflow.defn(name="WriteOrder")
class WriteOrder:
    """Two writes to two tables at once: an upserted order and an appended event."""

    @workflow.run
    async def run(self, order_id: str) -> list[WriteResult]:
        order = {"order_id": order_id, "status": "placed", "total_cents": 1250}
        event = {"order_id": order_id, "kind": "placed"}
        results = await asyncio.gather(write("orders", order), write("order_events", event))
        return list(results)


@workflow.defn(name="WriteAndContinue")
class WriteAndContinue:
    """The same row in every run: each run's write is its own, never a duplicate."""

    @workflow.run
    async def run(self, runs_left: int, seen: list[WriteResult]) -> list[WriteResult]:
        result = await write("orders", {"order_id": "same", "status": "x", "total_cents": 1})
        seen = [*seen, result]
        if runs_left > 1:
            workflow.continue_as_new(args=[runs_left - 1, seen])
        return seen


@workflow.defn(name="TypedPayment")
class TypedPayment:
    @workflow.run
    async def run(self, payment: Payment) -> int:
        return payment.amount_cents


@workflow.defn(name=contract.BATCHER_WORKFLOW)
class FakeBatcher:
    def __init__(self) -> None:
        self._state = FakeState()
        self._pending: dict[str, WriteRequest] = {}
        self._written: dict[str, WriteAck] = {}
        self._acks: dict[str, WriteAck] = {}
        self._refused_once: set[str] = set()

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query(name=FAKE_STATE_QUERY)
    def state(self) -> FakeState:
        return self._state

    @workflow.signal(name=contract.SUBMIT_SIGNAL)
    def submit(self, batch: WriteRequestBatch) -> None:
        self._state.signals += 1
        for request in batch.requests:
            self._state.requests.append(request)
            ack = self._answer(request)
            if ack is not None:
                self._acks[request.request_id] = ack

    @workflow.query(name=contract.ACKS_QUERY)
    def acks(self, query: AckQuery) -> AckReport:
        ids = query.request_ids
        return AckReport(
            [self._acks[rid] for rid in ids if rid in self._acks],
            [rid for rid in ids if rid in self._pending],
        )

    def _answer(self, request: WriteRequest) -> WriteAck | None:
        rid = request.request_id
        if rid in self._state.withdrawn:
            return WriteAck(rid, WriteOutcome.WITHDRAWN)
        if rid in self._written:
            return WriteAck(rid, WriteOutcome.ALREADY_WRITTEN, self._written[rid].batch_id)
        if request.table == "overloaded" and rid not in self._refused_once:
            # Full: dropped without an answer, as the real batcher does; the caller resends.
            self._refused_once.add(rid)
            return None
        if request.table == "refused":
            return WriteAck(
                rid, WriteOutcome.REJECTED, error_type=errors.ROW_REFUSED, error_message="no"
            )
        if request.table in ("silent", "late"):
            self._pending[rid] = request
            return None
        return self._write(rid)

    def _write(self, rid: str) -> WriteAck:
        ack = WriteAck(rid, WriteOutcome.WRITTEN, f"batch-{len(self._written)}")
        self._written[rid] = ack
        self._state.written.append(rid)
        return ack

    @workflow.update(name=contract.WITHDRAW_UPDATE)
    async def withdraw(self, req: WithdrawRequest) -> WriteAck:
        rid = req.request_id
        # An update handler that waits a little, like a batcher finishing a flush.
        await workflow.sleep(timedelta(milliseconds=10))
        if rid in self._written:
            return WriteAck(rid, WriteOutcome.ALREADY_WRITTEN, self._written[rid].batch_id)
        pending = self._pending.pop(rid, None)
        if pending is not None and pending.table == "late":
            return self._write(rid)
        self._state.withdrawn.append(rid)
        return WriteAck(rid, WriteOutcome.WITHDRAWN, error_type=errors.WRITE_WITHDRAWN)
