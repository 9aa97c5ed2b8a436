"""The business workflow: authorize a payment, hand its ledger row to the batcher, await the ack."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from main_service.activities import PaymentActivities, WriteSubmitter
    from main_service.ledger import ledger_write
    from shared import errors, names
    from shared.payloads import (
        PaymentRequest,
        PaymentResult,
        SubmitResult,
        WriteAck,
        WriteOutcome,
        WriteRequest,
    )
    from shared.workflow_spans import record_span

SUBMIT_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=[errors.INVALID_WRITE],
)
# The submit activity gives up itself after ACK_TIMEOUT_SECONDS (typed); this only bounds it
# when that setting is larger.
SUBMIT_TIMEOUT = timedelta(minutes=10)
# How long to back off when the batcher says it is overloaded, doubling up to the cap.
OVERLOAD_BACKOFF = timedelta(seconds=1)
OVERLOAD_BACKOFF_MAX = timedelta(seconds=15)


@workflow.defn(name=names.PAYMENT_WORKFLOW)
class PaymentWorkflow:
    """One payment: one business activity, then exactly one ledger row via the batcher."""

    def __init__(self) -> None:
        self._acks: dict[str, WriteAck] = {}
        meter = workflow.metric_meter()
        # Workflow time, so replays agree; recorded once, never on replay.
        self._write_latency = meter.create_histogram_float(
            "write_batcher_caller_write_latency_seconds",
            "From submitting a write to its ack, as the calling workflow saw it",
            "s",
        )
        self._timeouts = meter.create_counter(
            "write_batcher_confirmation_timeouts", "Writes whose caller gave up waiting for the ack"
        )

    @workflow.signal(name=names.ACK_SIGNAL)
    def ack(self, ack: WriteAck) -> None:
        # A retried flush may ack twice; the first answer stands unless it was "overloaded".
        current = self._acks.get(ack.request_id)
        if current is None or current.error_type == errors.BATCHER_OVERLOADED:
            self._acks[ack.request_id] = ack
        _record_ack(ack)

    @workflow.run
    async def run(self, payment: PaymentRequest) -> PaymentResult:
        auth = await workflow.execute_activity_method(
            PaymentActivities.authorize,
            payment,
            start_to_close_timeout=timedelta(seconds=30),
        )
        request = ledger_write(payment, auth.auth_code, workflow.info().workflow_id)
        ack, write_latency = await self._write(request)
        if ack.outcome is WriteOutcome.REJECTED:
            raise ApplicationError(
                f"write {request.request_id} rejected: {ack.error_type}: {ack.error_message}",
                ack,
                type=errors.WRITE_REJECTED,
                non_retryable=True,
            )
        return PaymentResult(
            payment_id=payment.payment_id,
            request_id=request.request_id,
            outcome=ack.outcome,
            batch_id=ack.batch_id,
            auth_code=auth.auth_code,
            write_latency_ms=round(write_latency.total_seconds() * 1000, 1),
        )

    async def _submit(self, request: WriteRequest) -> SubmitResult:
        try:
            return await workflow.execute_local_activity_method(
                WriteSubmitter.submit,
                request,
                schedule_to_close_timeout=SUBMIT_TIMEOUT,
                retry_policy=SUBMIT_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == errors.INVALID_WRITE:
                raise ApplicationError(
                    cause.message, type=errors.INVALID_WRITE, non_retryable=True
                ) from err
            confirmation = isinstance(cause, ApplicationError) and (
                cause.type == errors.WRITE_CONFIRMATION_TIMEOUT
            )
            if confirmation or isinstance(cause, TimeoutError):
                raise self._timed_out(request.request_id, str(cause)) from err
            raise

    def _timed_out(self, request_id: str, why: str) -> ApplicationError:
        self._timeouts.add(1)
        workflow.logger.warning("write %s: %s", request_id, why)
        return ApplicationError(why, type=errors.WRITE_CONFIRMATION_TIMEOUT, non_retryable=True)

    async def _signalled_ack(
        self, request_id: str, deadline: datetime, ack_timeout: float
    ) -> WriteAck:
        """ACK by signal (SUBMIT_TRANSPORT=signal, and histories from before the update)."""
        remaining = (deadline - workflow.now()).total_seconds()
        try:
            await workflow.wait_condition(
                lambda: request_id in self._acks,
                timeout=timedelta(seconds=max(remaining, 0.001)),
            )
        except TimeoutError:
            why = f"write {request_id} not confirmed within {ack_timeout:g}s"
            raise self._timed_out(request_id, why) from None
        return self._acks.pop(request_id)

    async def _write(self, request: WriteRequest) -> tuple[WriteAck, timedelta]:
        """Submit and get the ack, resubmitting after a backoff while the batcher is full.

        Returns the ack and how long it took from the first submit, in workflow time.
        """
        rid = request.request_id
        began = workflow.now()
        submitted = await self._submit(request)
        ack_timeout = submitted.ack_timeout_seconds
        deadline = workflow.now() + timedelta(seconds=ack_timeout)
        backoff = OVERLOAD_BACKOFF
        while True:
            if submitted.ack is None:
                ack = await self._signalled_ack(rid, deadline, ack_timeout)
            else:
                ack = submitted.ack
                _record_ack(ack)
            if ack.error_type != errors.BATCHER_OVERLOADED:
                took = workflow.now() - began
                self._write_latency.record(took.total_seconds(), {"outcome": str(ack.outcome)})
                return ack, took
            pause = min(backoff, deadline - workflow.now())
            if pause > timedelta(0):
                await workflow.sleep(pause)
            elif submitted.ack is not None:
                raise self._timed_out(rid, f"write {rid} not confirmed within {ack_timeout:g}s")
            backoff = min(backoff * 2, OVERLOAD_BACKOFF_MAX)
            submitted = await self._submit(request)


def _record_ack(ack: WriteAck) -> None:
    """The caller's span for the ack it got, however it came."""
    record_span(
        "ReceiveAck",
        {
            "write_batcher.request_id": ack.request_id,
            "write_batcher.batch_id": ack.batch_id or "",
            "write_batcher.outcome": str(ack.outcome),
        },
    )
