"""The caller's one call, from workflow code: ``result = await write("orders", row)``."""

# No ``from __future__ import annotations``: the SDK resolves WriteResult's field types from
# inside a caller's workflow sandbox, where this module's globals may not be reachable by name.

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from write_batcher import errors
    from write_batcher._ids import InvalidRowError, canonical_json, keyed_request_id, request_id
    from write_batcher._spans import record_span
    from write_batcher._submit import WriteInput, WriteReply
    from write_batcher.contract import WRITE_ACTIVITY, WriteOutcome

# The activity bounds itself by the ack deadline (the plugin caps that at an hour) plus the
# withdrawal's bound; this only catches one that never returns.
WRITE_TIMEOUT = timedelta(hours=1, minutes=5)
# Run again only when its worker died (the workflow task moves to another worker); every
# other failure is settled inside the activity.
WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=[errors.INVALID_WRITE],
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
    """Per workflow run: counts of identical writes and of write activities in flight."""

    def __init__(self) -> None:
        self.identical: dict[tuple[str, str], int] = {}
        self.in_flight = 0
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

    It costs the workflow one local activity (one marker event), which sends the row, waits
    for its ack and settles it at the deadline; while it waits, the workflow task stays open
    (the SDK heartbeats it every few seconds past the task timeout).
    """
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
    began = workflow.now()
    req = WriteInput(rid, table, info.workflow_id, dict(row), began.timestamp(), partition_key)
    run.in_flight += 1
    try:
        try:
            reply = await _execute(req)
        finally:
            run.in_flight -= 1
        return _outcome(run, req, reply, began)
    except ApplicationError:
        await _settled_in_run(run)
        raise


async def _settled_in_run(run: _Run) -> None:
    # sdk-core records a local activity's result even after the run's failure command
    # (temporalio/sdk-rust#659): a run failing from this write while a concurrent write's
    # local activity resolves would never end. Raise once none is in flight.
    await workflow.wait_condition(lambda: run.in_flight == 0)


async def _execute(req: WriteInput) -> WriteReply:
    try:
        reply: WriteReply = await workflow.execute_local_activity(
            WRITE_ACTIVITY,
            req,
            result_type=WriteReply,
            schedule_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        return reply
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == errors.INVALID_WRITE:
            raise ApplicationError(
                cause.message, type=errors.INVALID_WRITE, non_retryable=True
            ) from err
        raise ApplicationError(
            f"write {req.request_id}: outcome unknown, its activity failed: {cause or err}; "
            f"look it up with `{LOOKUP_COMMAND} {req.request_id}`",
            req.request_id,
            type=errors.WRITE_OUTCOME_UNKNOWN,
            non_retryable=True,
        ) from err


def _outcome(run: _Run, req: WriteInput, reply: WriteReply, began: datetime) -> WriteResult:
    rid, ack, batcher = req.request_id, reply.ack, reply.batcher_workflow_id
    took = (workflow.now() - began).total_seconds()
    if ack is None:
        run.timeouts.add(1, {"outcome": "unknown"})
        raise ApplicationError(
            f"write {rid}: outcome unknown: not confirmed within "
            f"{reply.ack_timeout_seconds:g}s and the batcher {batcher} could not be reached "
            f"to settle it ({reply.error}); look it up with `{LOOKUP_COMMAND} {rid}`",
            rid,
            batcher,
            type=errors.WRITE_OUTCOME_UNKNOWN,
            non_retryable=True,
        )
    run.latency.record(took, {"outcome": str(ack.outcome)})
    record_span(
        "ReceiveAck",
        {
            "write_batcher.request_id": rid,
            "write_batcher.batch_id": ack.batch_id or "",
            "write_batcher.outcome": str(ack.outcome),
        },
    )
    if ack.outcome is WriteOutcome.WITHDRAWN:
        run.timeouts.add(1, {"outcome": "withdrawn"})
        workflow.logger.warning("write %s withdrawn after %.1fs", rid, took)
        raise ApplicationError(
            f"write {rid} not confirmed within {reply.ack_timeout_seconds:g}s; "
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
