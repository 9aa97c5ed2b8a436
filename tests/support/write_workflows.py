"""Workflows for the caller library's tests: callers on the public API.

They run under ``WriteBatchingPlugin``, which passes ``write_batcher`` through the sandbox: the
library is imported at top level. The batcher they write to is ``write_batcher.testing``'s
fake (``tests/support/write_support.py``) or the real one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

from write_batcher import WriteResult, write


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
