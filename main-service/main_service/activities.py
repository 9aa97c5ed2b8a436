"""main-service activities: the business step of a payment."""

from __future__ import annotations

import hashlib

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from main_service.names import PAYMENT_DECLINED
from main_service.payments import AuthorizeResult, PaymentRequest

# The stand-in provider declines any single payment above this (1,000,000.00).
AUTHORIZATION_LIMIT_CENTS = 100_000_000


class PaymentActivities:
    """The business step of a payment."""

    @activity.defn(name="authorize_payment")
    async def authorize(self, request: PaymentRequest) -> AuthorizeResult:
        """Stands in for a payment provider call; deterministic so retries agree."""
        if request.amount_cents > AUTHORIZATION_LIMIT_CENTS:
            # Benign: an expected answer, logged once by the workflow, not by the SDK as a
            # failed activity with its traceback.
            raise ApplicationError(
                f"payment {request.payment_id} declined: {request.amount_cents} cents is over "
                f"the limit of {AUTHORIZATION_LIMIT_CENTS}",
                type=PAYMENT_DECLINED,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        digest = hashlib.sha256(f"{request.payment_id}:{request.amount_cents}".encode())
        return AuthorizeResult(auth_code=digest.hexdigest()[:12].upper())
