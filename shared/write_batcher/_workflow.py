"""The caller's one call, from workflow code: ``result = await write("orders", row)``."""

# No ``from __future__ import annotations``: the SDK resolves WriteResult's field types from
# inside a caller's workflow sandbox, where this module's globals may not be reachable by name.

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from write_batcher import errors
    from write_batcher._ids import InvalidRowError, canonical_json, keyed_request_id, request_id
    from write_batcher._settings import WriteSettings, settings_for
    from write_batcher._spans import WRITE_SPAN, annotate, span
    from write_batcher.contract import (
        WITHDRAW_ACTIVITY,
        WRITE_ACTIVITY,
        WriteAck,
        WriteInput,
        WriteOutcome,
    )

# An attempt the batcher does not complete within this bound runs again (its worker died
# before the hand-off, or a full shard dropped it): the batcher keeps one answer per request
# id, so a copy is never written twice. The deadline (schedule-to-close) bounds them all.
ATTEMPT_TIMEOUT = timedelta(seconds=30)
WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[errors.INVALID_WRITE, errors.INVALID_INPUT],
)
# Settling a write at its deadline: long enough for a shard to finish the flush it is in.
WITHDRAW_TIMEOUT = timedelta(seconds=60)
WITHDRAW_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=5)
)
LOOKUP_COMMAND = "python -m batcher_service requests lookup"


@dataclass
class WriteResult:
    """A write that is in its table: written now, before, or (upsert) superseded in its batch."""

    request_id: str
    table: str
    outcome: WriteOutcome
    batch_id: str | None


class _Run:
    """Per workflow run: counts of identical writes, and the write metrics."""

    def __init__(self) -> None:
        self.identical: dict[tuple[str, str], int] = {}
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
        self.cancelled = meter.create_counter(
            "write_batcher_cancelled_writes",
            "Writes whose workflow was cancelled while they waited, by what became of them",
        )

    def nth(self, table: str, row_json: str) -> int:
        key = (table, row_json)
        self.identical[key] = self.identical.get(key, 0) + 1
        return self.identical[key]


_RUN_ATTRIBUTE = "__write_batching_run"


def _run() -> _Run:
    """This run's state, kept on its workflow instance (a new run is a new instance)."""
    instance = workflow.instance()
    run = getattr(instance, _RUN_ATTRIBUTE, None)
    if not isinstance(run, _Run):
        run = _Run()
        setattr(instance, _RUN_ATTRIBUTE, run)
    return run


def _invalid(table: object, why: object) -> ApplicationError:
    return ApplicationError(
        f"invalid write to {table!r}: {why}", type=errors.INVALID_WRITE, non_retryable=True
    )


# A typed refusal is one line in the caller worker's log, at this level, and no traceback:
# the workflow decides what it means (the SDK logs the workflow's failure at DEBUG only).
_REFUSAL_LEVELS = {
    errors.INVALID_WRITE: logging.INFO,
    errors.WRITE_REJECTED: logging.WARNING,
    errors.WRITE_CONFIRMATION_TIMEOUT: logging.WARNING,
    errors.WRITE_OUTCOME_UNKNOWN: logging.WARNING,
}


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
    ``WRITE_CONFIRMATION_TIMEOUT`` (no outcome within the deadline and the write was
    withdrawn: it is not written and never will be) or ``WRITE_OUTCOME_UNKNOWN`` (the deadline
    passed and neither the batcher nor, to record the withdrawal, its database could settle it:
    look the request id up).

    The request id is ``{workflow_id}/{run_id}/{table}/{row digest}/{n}`` (n counts identical
    writes in this run), so a new run (continue-as-new, retry) writes again; with
    ``idempotency_key`` it is ``{table}:{idempotency_key}``: the same key is the same write,
    across runs and workflows.

    It costs the workflow one ordinary activity, scheduled on the batcher's task queue and
    completed by the batcher once the row is settled: while it waits, no workflow task is open
    and no worker slot is held, so the workflow takes signals, updates, queries and
    cancellation as usual. Cancelled while it waits, the write is withdrawn before the
    cancellation goes on (or, if it was already written, that is logged). Each refusal is
    logged once, one line (INFO for an invalid write, WARNING for the others).
    """
    try:
        return await _write(table, row, idempotency_key, partition_key)
    except ApplicationError as err:
        level = _REFUSAL_LEVELS.get(err.type or "")
        if level is not None:
            workflow.logger.log(level, "write refused (%s): %s", err.type, err.message)
        raise


async def _write(
    table: str,
    row: Mapping[str, Any],
    idempotency_key: str | None,
    partition_key: str | None,
) -> WriteResult:
    if not isinstance(table, str) or not table:
        raise _invalid(table, "table must be a non-empty string")
    try:
        row_json = canonical_json(row)
        info = workflow.info()
        run = _run()
        if idempotency_key is not None:
            rid = keyed_request_id(table, idempotency_key)
        else:
            rid = request_id(
                info.workflow_id, info.run_id, table, row_json, run.nth(table, row_json)
            )
    except InvalidRowError as err:
        raise _invalid(table, err) from None
    if partition_key is not None and not isinstance(partition_key, str):
        raise _invalid(table, "partition_key must be a string")
    settings = settings_for(info.task_queue)
    began = workflow.now()
    req = WriteInput(rid, table, dict(row), partition_key)
    # From the call to the settled outcome; the batcher's spans for this write are its
    # children (the write activity carries its context).
    with span(WRITE_SPAN, {"write_batcher.request_id": rid, "write_batcher.table": table}):
        try:
            ack = await _submit(req, settings)
        except BaseException as err:
            # The workflow (or the task awaiting this write) was cancelled while it waited.
            if not is_cancelled_exception(err):
                raise
            await _withdraw_cancelled(run, req, settings)
            raise
        if ack is None:
            ack = await _withdraw(req, settings)
        return _outcome(run, req, ack, began, settings)


async def _submit(req: WriteInput, settings: WriteSettings) -> WriteAck | None:
    """The write's ack; None when its deadline passed (or it failed) without one."""
    deadline = timedelta(seconds=settings.ack_timeout_seconds)
    try:
        ack: WriteAck = await workflow.execute_activity(
            WRITE_ACTIVITY,
            req,
            result_type=WriteAck,
            task_queue=settings.batcher_task_queue,
            schedule_to_close_timeout=deadline,
            start_to_close_timeout=min(ATTEMPT_TIMEOUT, deadline),
            retry_policy=WRITE_RETRY,
        )
        return ack
    except ActivityError as err:
        if is_cancelled_exception(err):
            raise
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in (
            errors.INVALID_WRITE,
            errors.INVALID_INPUT,
        ):
            raise ApplicationError(
                cause.message, type=errors.INVALID_WRITE, non_retryable=True
            ) from err
        # DEBUG: the withdrawal that follows is what the log reports, once.
        workflow.logger.debug(
            "write %s: no outcome within its deadline (%s)", req.request_id, cause
        )
        return None


async def _withdraw(req: WriteInput, settings: WriteSettings) -> WriteAck:
    """Withdrawn, or the outcome it already had; WRITE_OUTCOME_UNKNOWN if nobody can say."""
    try:
        ack: WriteAck = await workflow.execute_activity(
            WITHDRAW_ACTIVITY,
            req,
            result_type=WriteAck,
            task_queue=settings.batcher_task_queue,
            schedule_to_close_timeout=WITHDRAW_TIMEOUT,
            retry_policy=WITHDRAW_RETRY,
        )
        return ack
    except ActivityError as err:
        rid = req.request_id
        _run().timeouts.add(1, {"outcome": "unknown"})
        raise ApplicationError(
            f"write {rid}: outcome unknown: not confirmed within "
            f"{settings.ack_timeout_seconds:g}s and the batcher could not be reached to settle "
            f"it ({err.cause or err}); look it up with `{LOOKUP_COMMAND} {rid}`",
            rid,
            type=errors.WRITE_OUTCOME_UNKNOWN,
            non_retryable=True,
        ) from err


async def _withdraw_cancelled(run: _Run, req: WriteInput, settings: WriteSettings) -> None:
    """The workflow was cancelled while its write waited: never written silently after it."""
    rid = req.request_id
    try:
        ack = await _withdraw(req, settings)
    except ApplicationError as err:
        run.cancelled.add(1, {"outcome": "unknown"})
        workflow.logger.warning("cancelled while writing %s: %s", rid, err.message)
        return
    run.cancelled.add(1, {"outcome": str(ack.outcome)})
    if ack.outcome is WriteOutcome.WITHDRAWN:
        workflow.logger.info("cancelled while writing %s: withdrawn, not written", rid)
    else:
        workflow.logger.warning(
            "cancelled while writing %s: it was settled before the cancellation: %s",
            rid,
            ack.outcome,
        )


def _outcome(
    run: _Run, req: WriteInput, ack: WriteAck, began: datetime, settings: WriteSettings
) -> WriteResult:
    rid = req.request_id
    took = (workflow.now() - began).total_seconds()
    run.latency.record(took, {"outcome": str(ack.outcome)})
    annotate(
        {"write_batcher.batch_id": ack.batch_id or "", "write_batcher.outcome": str(ack.outcome)}
    )
    if ack.outcome is WriteOutcome.WITHDRAWN:
        run.timeouts.add(1, {"outcome": "withdrawn"})
        raise ApplicationError(
            f"write {rid} not confirmed within {settings.ack_timeout_seconds:g}s; "
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
