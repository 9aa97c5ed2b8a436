"""The caller's one call, from workflow code: ``result = await write("orders", row)``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from shared import errors
    from shared._backoff import backoff
    from shared._ids import InvalidRowError, canonical_json, keyed_request_id, request_id
    from shared._submit import SubmitInput, SubmitResult, WithdrawInput, WithdrawResult
    from shared.names import ACK_SIGNAL, SUBMIT_WRITE_ACTIVITY, WITHDRAW_WRITE_ACTIVITY
    from shared.payloads import WriteAck, WriteOutcome
    from shared.workflow_spans import record_span

# The submit activity bounds itself by the ack deadline (the plugin caps that at an hour);
# this only catches a submit that never returns.
SUBMIT_TIMEOUT = timedelta(hours=1, minutes=5)
SUBMIT_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=[errors.INVALID_WRITE],
)
WITHDRAW_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
LOOKUP_COMMAND = "python -m batcher_service.requests lookup"


@dataclass
class WriteResult:
    """A write that is in its table: written now, before, or (upsert) superseded in its batch."""

    request_id: str
    table: str
    outcome: WriteOutcome
    batch_id: str | None


class _Inbox:
    """Per run: the acks this run awaits. Lives in the run's signal handler table."""

    def __init__(self) -> None:
        self.awaiting: dict[str, int] = {}
        self.acks: dict[str, WriteAck] = {}
        self.identical: dict[tuple[str, str], int] = {}
        # This run's submit and withdraw local activities not yet resolved.
        self.local_activities = 0
        meter = workflow.metric_meter()
        # Workflow time, so replays agree; recorded once, never on replay.
        self.latency = meter.create_histogram_float(
            "write_batcher_caller_write_latency_seconds",
            "From submitting a write to its settled outcome, as the calling workflow saw it",
            "s",
        )
        self.timeouts = meter.create_counter(
            "write_batcher_confirmation_timeouts",
            "Writes whose deadline passed: withdrawn (not written) or outcome unknown",
        )

    def receive(self, ack: WriteAck) -> None:
        # Not awaited here: a duplicate for a write of the run before a continue-as-new.
        if ack.request_id not in self.awaiting:
            return
        # A retried flush may ack twice; the first answer stands unless it was "overloaded".
        current = self.acks.get(ack.request_id)
        if current is None or _overloaded(current):
            self.acks[ack.request_id] = ack
        record_span(
            "ReceiveAck",
            {
                "write_batcher.request_id": ack.request_id,
                "write_batcher.batch_id": ack.batch_id or "",
                "write_batcher.outcome": str(ack.outcome),
            },
        )

    def nth(self, table: str, row_json: str) -> int:
        key = (table, row_json)
        self.identical[key] = self.identical.get(key, 0) + 1
        return self.identical[key]


def _inbox() -> _Inbox:
    """This run's inbox; the first write installs the ack handler (buffered acks arrive then)."""
    handler = workflow.get_signal_handler(ACK_SIGNAL)
    owner = getattr(handler, "__self__", None)
    if isinstance(owner, _Inbox):
        return owner
    if handler is not None:
        raise RuntimeError(f"write() needs the signal {ACK_SIGNAL!r}; the workflow handles it")
    inbox = _Inbox()
    workflow.set_signal_handler(ACK_SIGNAL, inbox.receive)
    return inbox


def _overloaded(ack: WriteAck) -> bool:
    return ack.outcome is WriteOutcome.REJECTED and ack.error_type == errors.BATCHER_OVERLOADED


def _invalid(table: object, why: object) -> ApplicationError:
    return ApplicationError(
        f"invalid write to {table!r}: {why}", type=errors.INVALID_WRITE, non_retryable=True
    )


async def write(
    table: str,
    row: Mapping[str, Any],
    *,
    idempotency_key: str | None = None,
    partition_key: str | None = None,
) -> WriteResult:
    """Hand one row to the batcher and return once its outcome is settled.

    Raises ApplicationError (non-retryable) of type ``errors.INVALID_WRITE`` (the row does not
    fit its table's spec), ``WRITE_REJECTED`` (the batcher refused it; details: the WriteAck),
    ``WRITE_CONFIRMATION_TIMEOUT`` (no ack within the deadline and the write was withdrawn:
    it is not written and never will be) or ``WRITE_OUTCOME_UNKNOWN`` (the deadline passed
    and the batcher could not be reached to settle it: look the request id up).

    The request id is ``{workflow_id}/{run_id}/{table}/{row digest}/{n}`` (n counts identical
    writes in this run), so a new run (continue-as-new, retry) writes again; with
    ``idempotency_key`` it is ``{table}:{idempotency_key}``: the same key is the same write,
    across runs and workflows.
    """
    if not isinstance(table, str) or not table:
        raise _invalid(table, "table must be a non-empty string")
    try:
        row_json = canonical_json(row)
        info = workflow.info()
        inbox = _inbox()
        if idempotency_key is not None:
            rid = keyed_request_id(table, idempotency_key)
        else:
            rid = request_id(
                info.workflow_id, info.run_id, table, row_json, inbox.nth(table, row_json)
            )
    except InvalidRowError as err:
        raise _invalid(table, err) from None
    inbox.awaiting[rid] = inbox.awaiting.get(rid, 0) + 1
    try:
        submit = SubmitInput(
            rid, table, info.workflow_id, dict(row), workflow.now().timestamp(), partition_key
        )
        return await _settle(inbox, submit)
    except ApplicationError:
        # sdk-core records a local activity's result even after the run's failure command
        # (temporalio/sdk-rust#659): a run failing from this write while a concurrent write's
        # local activity resolves would never end. Raise once none is in flight.
        await workflow.wait_condition(lambda: inbox.local_activities == 0)
        raise
    finally:
        inbox.awaiting[rid] -= 1
        if not inbox.awaiting[rid]:
            del inbox.awaiting[rid]
            inbox.acks.pop(rid, None)


async def _submit(inbox: _Inbox, req: SubmitInput) -> SubmitResult:
    inbox.local_activities += 1
    try:
        result: SubmitResult = await workflow.execute_local_activity(
            SUBMIT_WRITE_ACTIVITY,
            req,
            result_type=SubmitResult,
            schedule_to_close_timeout=SUBMIT_TIMEOUT,
            retry_policy=SUBMIT_RETRY,
        )
        return result
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == errors.INVALID_WRITE:
            raise ApplicationError(
                cause.message, type=errors.INVALID_WRITE, non_retryable=True
            ) from err
        raise ApplicationError(
            f"write {req.request_id}: outcome unknown, its submit failed: {cause or err}; "
            f"look it up with `{LOOKUP_COMMAND} {req.request_id}`",
            req.request_id,
            type=errors.WRITE_OUTCOME_UNKNOWN,
            non_retryable=True,
        ) from err
    finally:
        inbox.local_activities -= 1


async def _settle(inbox: _Inbox, req: SubmitInput) -> WriteResult:
    rid = req.request_id
    began = workflow.now()
    submitted = await _submit(inbox, req)
    deadline = began + timedelta(seconds=submitted.ack_timeout_seconds)
    delays = backoff()
    while submitted.sent:
        remaining = (deadline - workflow.now()).total_seconds()
        if remaining <= 0:
            break
        try:
            await workflow.wait_condition(
                lambda: rid in inbox.acks, timeout=timedelta(seconds=remaining)
            )
        except TimeoutError:
            break
        ack = inbox.acks[rid]
        if not _overloaded(ack):
            return _outcome(inbox, req, ack, began, submitted)
        # The batcher is full: back off and resubmit, within the same deadline.
        del inbox.acks[rid]
        pause = min(next(delays), (deadline - workflow.now()).total_seconds())
        if pause <= 0:
            break
        await workflow.sleep(timedelta(seconds=pause))
        submitted = await _submit(inbox, req)
    return await _withdraw(inbox, req, submitted, began)


async def _withdraw(
    inbox: _Inbox, req: SubmitInput, submitted: SubmitResult, began: datetime
) -> WriteResult:
    """The deadline passed: the batcher withdraws the write, or says what became of it."""
    rid, batcher = req.request_id, submitted.batcher_workflow_id
    inbox.local_activities += 1
    try:
        settled = await workflow.execute_local_activity(
            WITHDRAW_WRITE_ACTIVITY,
            WithdrawInput(rid, batcher),
            result_type=WithdrawResult,
            schedule_to_close_timeout=timedelta(minutes=5),
            retry_policy=WITHDRAW_RETRY,
        )
    except ActivityError as err:
        settled = WithdrawResult(None, str(err.cause or err))
    finally:
        inbox.local_activities -= 1
    ack = settled.ack
    if ack is None and rid in inbox.acks and not _overloaded(inbox.acks[rid]):
        ack = inbox.acks[rid]  # the ack came by signal while the batcher was out of reach
    if ack is None:
        inbox.timeouts.add(1, {"outcome": "unknown"})
        raise ApplicationError(
            f"write {rid}: outcome unknown: not confirmed within "
            f"{submitted.ack_timeout_seconds:g}s and the batcher {batcher} could not be reached "
            f"to settle it ({settled.error}); look it up with `{LOOKUP_COMMAND} {rid}`",
            rid,
            batcher,
            type=errors.WRITE_OUTCOME_UNKNOWN,
            non_retryable=True,
        )
    return _outcome(inbox, req, ack, began, submitted)


def _outcome(
    inbox: _Inbox, req: SubmitInput, ack: WriteAck, began: datetime, submitted: SubmitResult
) -> WriteResult:
    rid = req.request_id
    took = (workflow.now() - began).total_seconds()
    inbox.latency.record(took, {"outcome": str(ack.outcome)})
    if ack.outcome is WriteOutcome.WITHDRAWN:
        inbox.timeouts.add(1, {"outcome": "withdrawn"})
        workflow.logger.warning("write %s withdrawn after %.1fs", rid, took)
        raise ApplicationError(
            f"write {rid} not confirmed within {submitted.ack_timeout_seconds:g}s; "
            "withdrawn: it is not written and never will be",
            ack,
            type=errors.WRITE_CONFIRMATION_TIMEOUT,
            non_retryable=True,
        )
    if ack.outcome is WriteOutcome.REJECTED:
        raise ApplicationError(
            f"write {rid} rejected: {ack.error_type}: {ack.error_message}",
            ack,
            type=errors.WRITE_REJECTED,
            non_retryable=True,
        )
    return WriteResult(rid, req.table, ack.outcome, ack.batch_id)
