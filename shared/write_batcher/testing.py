"""Test a workflow that writes, without PostgreSQL or the batcher service.

``fake_batcher_worker(client, plugin)`` runs ``FakeBatcher``: a real Temporal workflow under the
batcher's workflow type, submit signal, ack query and withdraw update, on the batcher task
queue of your ``WriteBatchingPlugin``. Your workflow's ``write()`` calls go through the real
library (validation, request ids, the signal, the ack query) and the fake answers each row at
once, ``WriteOutcome.WRITTEN`` unless ``outcomes`` says otherwise, per table (a mapping) or per
row (a function of the table and the row)::

    plugin = WriteBatchingPlugin("tables.yaml")
    async with (
        Worker(env.client, task_queue="orders", workflows=[OrderWorkflow], plugins=[plugin]),
        fake_batcher_worker(env.client, plugin, {"order_events": WriteOutcome.REJECTED}),
    ):
        ...  # run your workflow
        state = await fake_batcher_state(env.client, plugin)  # what reached it, what it wrote

It works in the time-skipping environment (``WorkflowEnvironment.start_time_skipping``) and on
a dev server. The answers:

- ``WriteOutcome.WRITTEN``, ``ALREADY_WRITTEN``, ``KEY_EXISTS``, ``SUPERSEDED``: ``write()``
  returns a ``WriteResult`` with that outcome (batch ids ``batch-0``, ``batch-1``, ...). A row
  sent again under the same request id (an ``idempotency_key`` used twice) is
  ``ALREADY_WRITTEN``.
- ``WriteOutcome.REJECTED``: ``write()`` raises ``errors.WRITE_REJECTED``; the ack (its
  ``details[0]``) has error type ``errors.ROW_REFUSED``.
- ``WriteOutcome.WITHDRAWN``: ``write()`` raises ``errors.WRITE_CONFIRMATION_TIMEOUT`` at once,
  as it does when a write's deadline passed and the batcher withdrew it.
- ``Unacked.DROPPED_ONCE``, ``Unacked.UNTIL_DEADLINE``, ``Unacked.WRITTEN_AT_DEADLINE``: the
  caller's worker waits, as described on ``Unacked``. The deadline is
  ``ack_timeout_seconds`` of the plugin counted from the workflow's clock (``workflow.now()``)
  against the worker's clock: run these on a dev server (``WorkflowEnvironment.start_local``),
  where the two agree; the time-skipping server's workflow clock runs ahead of the real one.

Nothing runs at import; it needs only the library's own dependencies.
"""

# No ``from __future__ import annotations``: the SDK decodes these dataclasses by their hints.
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final, TypeAlias

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from write_batcher import errors
from write_batcher._plugin import StrictInputsPlugin, WriteBatchingPlugin, with_passthrough
from write_batcher.contract import (
    ACKS_QUERY,
    BATCHER_WORKFLOW,
    SUBMIT_SIGNAL,
    WITHDRAW_UPDATE,
    AckQuery,
    AckReport,
    WithdrawRequest,
    WriteAck,
    WriteOutcome,
    WriteRequest,
    WriteRequestBatch,
    batcher_workflow_id,
)

__all__ = [
    "ANSWERS_ACTIVITY",
    "STATE_QUERY",
    "Answer",
    "FakeBatcher",
    "FakeBatcherState",
    "Outcomes",
    "Unacked",
    "fake_batcher_state",
    "fake_batcher_worker",
]

# The fake's own query: what reached it and what it answered (``fake_batcher_state``).
STATE_QUERY: Final = "write_batcher_testing_state"
# The fake worker's local activity that picks the answers (``outcomes`` runs there).
ANSWERS_ACTIVITY: Final = "write_batcher_testing_answers"


class Unacked(StrEnum):
    """Answers that leave the caller waiting for its ack."""

    # Dropped without an answer, as a full shard drops it: the caller's worker finds it
    # unknown and sends it again after its backoff (about 2 s); the second time it is written.
    DROPPED_ONCE = "dropped_once"
    # Never acked: at its deadline the caller withdraws it and ``write()`` raises
    # ``errors.WRITE_CONFIRMATION_TIMEOUT``.
    UNTIL_DEADLINE = "until_deadline"
    # Never acked, but written by the time the caller withdraws it at its deadline:
    # ``write()`` returns ``WRITTEN`` then.
    WRITTEN_AT_DEADLINE = "written_at_deadline"


Answer: TypeAlias = WriteOutcome | Unacked
# Per table (tables not named are WRITTEN), or a function of the table and the row.
Outcomes: TypeAlias = Mapping[str, Answer] | Callable[[str, Mapping[str, Any]], Answer]

_SUCCESS = frozenset(
    {
        WriteOutcome.WRITTEN,
        WriteOutcome.ALREADY_WRITTEN,
        WriteOutcome.KEY_EXISTS,
        WriteOutcome.SUPERSEDED,
    }
)


@dataclass
class FakeBatcherState:
    """What reached a fake batcher and what it answered."""

    # Submit signals received; concurrent writes of one worker share one.
    signals: int = 0
    # Every request received, in order, a resent one each time it came.
    requests: list[WriteRequest] = field(default_factory=list)
    # Request ids answered with a success outcome, once each, in order.
    written: list[str] = field(default_factory=list)
    # Request ids answered WITHDRAWN.
    withdrawn: list[str] = field(default_factory=list)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows written to ``table``, one per request id, in the order they were written."""
        by_id = {request.request_id: request for request in self.requests}
        return [by_id[rid].row for rid in self.written if by_id[rid].table == table]


@workflow.defn(name=BATCHER_WORKFLOW)
class FakeBatcher:
    """The batcher's messages, answered from ``outcomes``; no database, no batching.

    Register it with ``fake_batcher_worker``: it asks that worker's ``ANSWERS_ACTIVITY``
    which answer each new request gets.
    """

    def __init__(self) -> None:
        self._state = FakeBatcherState()
        self._acks: dict[str, WriteAck] = {}
        # Received and not answered yet: still deciding, or left unacked on purpose.
        self._pending: dict[str, WriteRequest] = {}
        self._unacked: dict[str, Unacked] = {}
        self._dropped: set[str] = set()
        self._batches = 0
        self._refusal = ""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query(name=STATE_QUERY)
    def state(self) -> FakeBatcherState:
        return self._state

    @workflow.signal(name=SUBMIT_SIGNAL)
    async def submit(self, batch: WriteRequestBatch) -> None:
        self._state.signals += 1
        fresh: list[WriteRequest] = []
        for request in batch.requests:
            self._state.requests.append(request)
            rid = request.request_id
            ack = self._acks.get(rid)
            if ack is not None and ack.outcome in _SUCCESS:
                self._acks[rid] = WriteAck(rid, WriteOutcome.ALREADY_WRITTEN, ack.batch_id)
            elif ack is None and rid not in self._pending:
                self._pending[rid] = request
                fresh.append(request)
        if fresh:
            for request, answer in zip(fresh, await self._answers(fresh), strict=True):
                self._answer(request, answer)

    async def _answers(self, requests: list[WriteRequest]) -> list[str]:
        try:
            answers: list[str] = await workflow.execute_local_activity(
                ANSWERS_ACTIVITY,
                WriteRequestBatch(requests),
                result_type=list[str],
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
            return answers
        except ActivityError as err:
            # Your ``outcomes`` failed: each of these writes is refused with the reason.
            self._refusal = f"fake batcher: outcomes failed: {err.cause or err}"
            return [_REFUSED_BY_ERROR] * len(requests)

    def _answer(self, request: WriteRequest, answer: str) -> None:
        rid = request.request_id
        if rid not in self._pending:
            return  # withdrawn while its answer was picked
        if answer == Unacked.DROPPED_ONCE and rid not in self._dropped:
            self._dropped.add(rid)
            del self._pending[rid]
        elif answer in (Unacked.UNTIL_DEADLINE, Unacked.WRITTEN_AT_DEADLINE):
            self._unacked[rid] = Unacked(answer)
        elif answer == Unacked.DROPPED_ONCE:
            self._settle(rid, WriteOutcome.WRITTEN)
        elif answer == _REFUSED_BY_ERROR:
            self._settle(rid, WriteOutcome.REJECTED, self._refusal)
        else:
            self._settle(rid, WriteOutcome(answer))

    def _settle(self, rid: str, outcome: WriteOutcome, message: str | None = None) -> WriteAck:
        self._pending.pop(rid, None)
        self._unacked.pop(rid, None)
        if outcome in _SUCCESS:
            ack = WriteAck(rid, outcome, f"batch-{self._batches}")
            self._batches += 1
            self._state.written.append(rid)
        elif outcome is WriteOutcome.REJECTED:
            message = message or "refused by the fake batcher"
            ack = WriteAck(rid, outcome, error_type=errors.ROW_REFUSED, error_message=message)
        else:
            ack = WriteAck(rid, WriteOutcome.WITHDRAWN, error_type=errors.WRITE_WITHDRAWN)
            self._state.withdrawn.append(rid)
        self._acks[rid] = ack
        return ack

    @workflow.query(name=ACKS_QUERY)
    def acks(self, query: AckQuery) -> AckReport:
        ids = query.request_ids
        return AckReport(
            [self._acks[rid] for rid in ids if rid in self._acks],
            [rid for rid in ids if rid in self._pending],
        )

    @workflow.update(name=WITHDRAW_UPDATE)
    async def withdraw(self, req: WithdrawRequest) -> WriteAck:
        rid = req.request_id
        # Waits a little before it answers, like a batcher finishing a flush.
        await workflow.sleep(timedelta(milliseconds=10))
        ack = self._acks.get(rid)
        if ack is not None:
            if ack.outcome in _SUCCESS:
                return WriteAck(rid, WriteOutcome.ALREADY_WRITTEN, ack.batch_id)
            return ack
        # Not received (or still being answered) is withdrawn too: a late copy is never written.
        if self._unacked.get(rid) is Unacked.WRITTEN_AT_DEADLINE:
            return self._settle(rid, WriteOutcome.WRITTEN)
        return self._settle(rid, WriteOutcome.WITHDRAWN)


# An answer the fake gives itself when ``outcomes`` failed; never a value of Answer.
_REFUSED_BY_ERROR: Final = "refused_by_error"


def _answers_activity(outcomes: Outcomes | None) -> Callable[..., Any]:
    """The local activity that applies ``outcomes`` to each new request, on the fake's worker."""

    def pick(request: WriteRequest) -> Answer:
        if outcomes is None:
            return WriteOutcome.WRITTEN
        if isinstance(outcomes, Mapping):
            answer = outcomes.get(request.table, WriteOutcome.WRITTEN)
        else:
            answer = outcomes(request.table, request.row)
        if not isinstance(answer, WriteOutcome | Unacked):
            raise TypeError(f"outcomes gave {answer!r} for {request.table!r}: not an Answer")
        return answer

    @activity.defn(name=ANSWERS_ACTIVITY)
    async def answers(batch: WriteRequestBatch) -> list[str]:
        try:
            return [str(pick(request)) for request in batch.requests]
        except Exception as err:
            raise ApplicationError(repr(err), non_retryable=True) from err

    return answers


def fake_batcher_worker(
    client: Client, plugin: WriteBatchingPlugin, outcomes: Outcomes | None = None
) -> Worker:
    """A worker that runs ``FakeBatcher`` on the plugin's batcher task queue; ``async with`` it.

    ``outcomes``: the answer per table (``{"orders": WriteOutcome.REJECTED}``; tables not
    named are written) or a function ``(table, row) -> Answer``, called once per request id.
    Every shard of the plugin (``shards``) is answered by this worker.
    """
    return Worker(
        client,
        task_queue=plugin.settings.batcher_task_queue,
        workflows=[FakeBatcher],
        activities=[_answers_activity(outcomes)],
        workflow_runner=with_passthrough(None),
        plugins=[StrictInputsPlugin()],
    )


async def fake_batcher_state(client: Client, plugin: WriteBatchingPlugin) -> FakeBatcherState:
    """What reached the fake batcher's shards and what they answered, all shards together."""
    merged = FakeBatcherState()
    settings = plugin.settings
    for shard in range(settings.shards):
        handle = client.get_workflow_handle(batcher_workflow_id(shard, settings.batcher_id_prefix))
        try:
            state = await handle.query(STATE_QUERY, result_type=FakeBatcherState)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue  # no write reached this shard
            raise
        merged = dataclasses.replace(
            merged,
            signals=merged.signals + state.signals,
            requests=merged.requests + state.requests,
            written=merged.written + state.written,
            withdrawn=merged.withdrawn + state.withdrawn,
        )
    return merged
