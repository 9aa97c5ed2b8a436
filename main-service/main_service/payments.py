"""The payment's own payloads, its input checks and the ledger row it writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from temporalio.exceptions import ApplicationError

from main_service.names import INVALID_PAYMENT
from write_batcher.contract import WriteOutcome

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass
class PaymentRequest:
    """Input of the business workflow."""

    payment_id: str
    account_id: str
    amount_cents: int
    currency: str = "EUR"
    memo: str | None = None


@dataclass
class AuthorizeResult:
    """What the business activity returns."""

    auth_code: str


@dataclass
class PaymentResult:
    """Output of the business workflow."""

    payment_id: str
    request_id: str
    outcome: WriteOutcome
    batch_id: str | None
    auth_code: str
    # From handing the write over to its ack, in workflow time: what batching added.
    write_latency_ms: float | None = None


def check_payment(payment: PaymentRequest) -> None:
    """Raise a typed, non-retryable InvalidPayment for input no provider would accept."""
    # Types are already exact here: the data converter refuses a float or a bool amount.
    problem = None
    if payment.amount_cents <= 0:
        problem = f"amount must be positive, got {payment.amount_cents}"
    elif not _CURRENCY.match(payment.currency):
        problem = f"currency must be three capital letters (ISO 4217), got {payment.currency!r}"
    elif not payment.payment_id or not payment.account_id:
        problem = "payment_id and account_id must not be empty"
    if problem is not None:
        raise ApplicationError(
            f"payment {payment.payment_id}: {problem}", type=INVALID_PAYMENT, non_retryable=True
        )


def ledger_row(payment: PaymentRequest, auth_code: str) -> dict[str, Any]:
    """The payment's single ledger row (columns of main-service/main_service/tables.yaml)."""
    return {
        "payment_id": payment.payment_id,
        "account_id": payment.account_id,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "auth_code": auth_code,
        "memo": payment.memo,
    }
