"""The ledger row a payment writes: one place that maps a payment to its write request."""

from __future__ import annotations

from shared.payloads import PaymentRequest, WriteRequest, make_request_id


def ledger_write(payment: PaymentRequest, auth_code: str, caller_workflow_id: str) -> WriteRequest:
    """The payment's single ledger row; the account is the partition key."""
    return WriteRequest(
        request_id=make_request_id(caller_workflow_id, 1),
        caller_workflow_id=caller_workflow_id,
        partition_key=payment.account_id,
        row={
            "account_id": payment.account_id,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
            "auth_code": auth_code,
            "memo": payment.memo,
        },
    )
