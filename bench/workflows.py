"""Bench-only workflows: an empty one, the payment without its write, and a naive writer."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bench.activities import NaiveWriter
    from main_service.activities import PaymentActivities
    from main_service.ledger import ledger_write
    from shared.payloads import PaymentRequest

EMPTY_WORKFLOW = "BenchEmptyWorkflow"
CEILING_WORKFLOW = "BenchPaymentWithoutWriteWorkflow"
NAIVE_WORKFLOW = "BenchNaivePaymentWorkflow"


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
        request = ledger_write(payment, auth.auth_code, workflow.info().workflow_id)
        await workflow.execute_activity_method(
            NaiveWriter.insert, request, start_to_close_timeout=timedelta(seconds=30)
        )
        return auth.auth_code
