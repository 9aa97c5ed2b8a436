"""Bench-only workflows: an empty one, the payment without its write, a naive writer, a
payment that writes two rows to two tables, and one that writes through the group-commit peer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

from write_batcher import write
from write_batcher.contract import WriteAck, WriteInput

with workflow.unsafe.imports_passed_through():
    from bench.activities import NaiveWriter
    from bench.group_commit import GROUP_COMMIT_ACTIVITY, GROUP_COMMIT_TASK_QUEUE
    from bench.two_tables import EVENTS_TABLE, event_row
    from main_service.activities import PaymentActivities
    from main_service.names import LEDGER_TABLE
    from main_service.payments import PaymentRequest, ledger_row
    from write_batcher._ids import keyed_request_id

EMPTY_WORKFLOW = "BenchEmptyWorkflow"
CEILING_WORKFLOW = "BenchPaymentWithoutWriteWorkflow"
NAIVE_WORKFLOW = "BenchNaivePaymentWorkflow"
TWO_TABLE_WORKFLOW = "BenchTwoTablePaymentWorkflow"
GROUP_COMMIT_WORKFLOW = "BenchGroupCommitPaymentWorkflow"


@dataclass
class TwoTableResult:
    """Both writes' batches, and how long the pair took (the load test reads this field)."""

    ledger_batch_id: str | None
    event_batch_id: str | None
    write_latency_ms: float


@workflow.defn(name=EMPTY_WORKFLOW)
class EmptyWorkflow:
    """Does nothing: the server's and the worker's floor cost per workflow."""

    @workflow.run
    async def run(self, payment: PaymentRequest) -> str:
        return payment.payment_id


@workflow.defn(name=CEILING_WORKFLOW)
class PaymentWithoutWriteWorkflow:
    """PaymentWorkflow's authorize step, then return: the ceiling for any write strategy."""

    @workflow.run
    async def run(self, payment: PaymentRequest) -> str:
        auth = await workflow.execute_activity_method(
            PaymentActivities.authorize, payment, start_to_close_timeout=timedelta(seconds=30)
        )
        return auth.auth_code


@workflow.defn(name=NAIVE_WORKFLOW)
class NaivePaymentWorkflow:
    """Authorize, then insert its own ledger row with one INSERT activity: no batcher."""

    @workflow.run
    async def run(self, payment: PaymentRequest) -> str:
        auth = await workflow.execute_activity_method(
            PaymentActivities.authorize, payment, start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.execute_activity_method(
            NaiveWriter.insert,
            ledger_row(payment, auth.auth_code),
            start_to_close_timeout=timedelta(seconds=30),
        )
        return auth.auth_code


@workflow.defn(name=TWO_TABLE_WORKFLOW)
class TwoTablePaymentWorkflow:
    """Authorize, then the ledger row and an event row, to two tables at once, by write()."""

    @workflow.run
    async def run(self, payment: PaymentRequest) -> TwoTableResult:
        auth = await workflow.execute_activity_method(
            PaymentActivities.authorize, payment, start_to_close_timeout=timedelta(seconds=30)
        )
        began = workflow.now()
        # Keyed by the payment: each row is written once, whichever run writes it. One
        # partition key for both: a payment's two rows meet in one shard (and mostly one flush).
        ledger, event = await asyncio.gather(
            write(
                LEDGER_TABLE,
                ledger_row(payment, auth.auth_code),
                idempotency_key=payment.payment_id,
                partition_key=payment.payment_id,
            ),
            write(
                EVENTS_TABLE,
                event_row(payment.payment_id, payment.amount_cents, began.isoformat()),
                idempotency_key=payment.payment_id,
                partition_key=payment.payment_id,
            ),
        )
        took = workflow.now() - began
        return TwoTableResult(
            ledger.batch_id, event.batch_id, round(took.total_seconds() * 1000, 1)
        )


@workflow.defn(name=GROUP_COMMIT_WORKFLOW)
class GroupCommitPaymentWorkflow:
    """Authorize, then write the ledger row as one ordinary activity on the writer's queue,
    whose worker commits the activities it runs at once together (bench.group_commit)."""

    @workflow.run
    async def run(self, payment: PaymentRequest) -> str:
        auth = await workflow.execute_activity_method(
            PaymentActivities.authorize, payment, start_to_close_timeout=timedelta(seconds=30)
        )
        request = WriteInput(
            keyed_request_id(LEDGER_TABLE, payment.payment_id),
            LEDGER_TABLE,
            ledger_row(payment, auth.auth_code),
        )
        await workflow.execute_activity(
            GROUP_COMMIT_ACTIVITY,
            request,
            task_queue=GROUP_COMMIT_TASK_QUEUE,
            start_to_close_timeout=timedelta(seconds=30),
            result_type=WriteAck,
        )
        return auth.auth_code
