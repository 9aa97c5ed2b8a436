"""The business workflow: authorize a payment, then write its ledger row through the batcher."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from write_batcher import write

with workflow.unsafe.imports_passed_through():
    from main_service.activities import PaymentActivities
    from main_service.names import (
        INVALID_PAYMENT,
        LEDGER_TABLE,
        PAYMENT_DECLINED,
        PAYMENT_WORKFLOW,
    )
    from main_service.payments import (
        PaymentRequest,
        PaymentResult,
        check_payment,
        ledger_row,
    )

_BUSINESS_FAILURES = (INVALID_PAYMENT, PAYMENT_DECLINED)


@workflow.defn(name=PAYMENT_WORKFLOW)
class PaymentWorkflow:
    """One payment: one business activity, then exactly one ledger row via the batcher."""

    @workflow.run
    async def run(self, payment: PaymentRequest) -> PaymentResult:
        check_payment(payment)
        try:
            auth = await workflow.execute_activity_method(
                PaymentActivities.authorize,
                payment,
                start_to_close_timeout=timedelta(seconds=30),
            )
        except ActivityError as err:
            # The payment fails with the provider's type itself, not a wrapped ActivityError.
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type in _BUSINESS_FAILURES:
                raise ApplicationError(cause.message, type=cause.type, non_retryable=True) from err
            raise
        began = workflow.now()
        # The payment id is the idempotency key: a payment retried as a new workflow run,
        # or started twice, still writes its ledger row once.
        result = await write(
            LEDGER_TABLE, ledger_row(payment, auth.auth_code), idempotency_key=payment.payment_id
        )
        took = workflow.now() - began
        return PaymentResult(
            payment_id=payment.payment_id,
            request_id=result.request_id,
            outcome=result.outcome,
            batch_id=result.batch_id,
            auth_code=auth.auth_code,
            write_latency_ms=round(took.total_seconds() * 1000, 1),
        )
