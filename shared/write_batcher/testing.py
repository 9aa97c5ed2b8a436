"""Test a workflow that writes, without PostgreSQL or the batcher service.

``FakeBatcher(client, plugin)`` runs a worker on the batcher task queue of your
``WriteBatchingPlugin`` with ``FakeBatcherWorkflow``: a real Temporal workflow under the
batcher's workflow type, submit signal, ack query and withdraw update. Your workflow's
``write()`` calls go through the real library (validation, request ids, the signal, the ack
query) and the fake answers each row at once: ``WriteOutcome.WRITTEN`` unless ``outcomes``
says otherwise, per table (a mapping) or per row (a function of the table and the row)::

    plugin = WriteBatchingPlugin("tables.yaml")
    async with (
        Worker(env.client, task_queue="orders", workflows=[OrderWorkflow], plugins=[plugin]),
        FakeBatcher(env.client, plugin, {"order_events": WriteOutcome.REJECTED}) as batcher,
    ):
        ...  # run your workflow
    assert batcher.rows("orders") == [...]  # what it wrote, still there after the block

It works in the time-skipping environment (``WorkflowEnvironment.start_time_skipping``) and on
a dev server (``WorkflowEnvironment.start_local``). The answers (``Answer``):

- ``WriteOutcome.WRITTEN``, ``ALREADY_WRITTEN``, ``KEY_EXISTS``, ``SUPERSEDED``: ``write()``
  returns a ``WriteResult`` with that outcome (batch ids ``batch-0``, ``batch-1``, ...). The
  same request id sent again (an ``idempotency_key`` used twice) is ``ALREADY_WRITTEN``.
- ``WriteOutcome.REJECTED``: ``write()`` raises ``errors.WRITE_REJECTED``; its ``details[0]``
  is the ack, error type ``errors.ROW_REFUSED``.
- ``WriteOutcome.WITHDRAWN``: ``write()`` raises ``errors.WRITE_CONFIRMATION_TIMEOUT`` at once,
  as it does when a write's deadline passed and the batcher withdrew it.
- ``Unacked.DROPPED_ONCE``, ``UNTIL_DEADLINE``, ``WRITTEN_AT_DEADLINE``: the caller's worker
  waits (see ``Unacked``). The last two wait for the write's deadline, ``ack_timeout_seconds``
  of the plugin counted from the workflow's clock against the worker's: use them on a dev
  server, where the two clocks agree. The time-skipping server's clock runs ahead of the
  worker's once it has skipped, and such a write would wait until the worker's clock catches up.

What reached the fake and what it answered is kept in the ``FakeBatcher`` object, not in the
workflow: the time-skipping server times out a workflow that never ends (as the batcher's
runs never do) whenever it skips time, and the next write starts a new run that carries on.

Nothing runs at import; it needs only the library's own dependencies.
"""

# No ``from __future__ import annotations``: the SDK decodes these dataclasses by their hints.
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, Final, Self, TypeAlias

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
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
)

__all__ = [
    "Answer",
    "FakeBatcher",
    "FakeBatcherWorkflow",
    "Outcomes",
    "Unacked",
]

# The fake worker's local activities: the FakeBatcher object answers and records.
SUBMIT_ACTIVITY: Final = "write_batcher_testing_submit"
WITHDRAW_ACTIVITY: Final = "write_batcher_testing_withdraw"


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
# The answers are the FakeBatcher's in this process: quick, and never worth a retry.
_LOCAL_TIMEOUT = timedelta(seconds=30)
_ONCE = RetryPolicy(maximum_attempts=1)


@dataclass
class SubmitReply:
    """The fake's answer to one submit signal: acks now, ids it holds; others are unknown."""

    acks: list[WriteAck] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


@workflow.defn(name=BATCHER_WORKFLOW)
class FakeBatcherWorkflow:
    """The batcher's messages, answered by the ``FakeBatcher`` whose worker runs it."""

    def __init__(self) -> None:
        self._acks: dict[str, WriteAck] = {}
        self._pending: set[str] = set()

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=SUBMIT_SIGNAL)
    async def submit(self, batch: WriteRequestBatch) -> None:
        # Known to this run at once; the answers come back in the same workflow task.
        self._pending.update(r.request_id for r in batch.requests if r.request_id not in self._acks)
        reply: SubmitReply = await workflow.execute_local_activity(
            SUBMIT_ACTIVITY,
            batch,
            result_type=SubmitReply,
            start_to_close_timeout=_LOCAL_TIMEOUT,
            retry_policy=_ONCE,
        )
        self._pending.difference_update(r.request_id for r in batch.requests)
        self._pending.update(reply.pending)
        for ack in reply.acks:
            self._acks[ack.request_id] = ack

    @workflow.query(name=ACKS_QUERY)
    def acks(self, query: AckQuery) -> AckReport:
        ids = query.request_ids
        return AckReport(
            [self._acks[rid] for rid in ids if rid in self._acks],
            [rid for rid in ids if rid in self._pending],
        )

    @workflow.update(name=WITHDRAW_UPDATE)
    async def withdraw(self, req: WithdrawRequest) -> WriteAck:
        # Waits a little before it answers, like a batcher finishing a flush.
        await workflow.sleep(timedelta(milliseconds=10))
        ack: WriteAck = await workflow.execute_local_activity(
            WITHDRAW_ACTIVITY,
            req,
            result_type=WriteAck,
            start_to_close_timeout=_LOCAL_TIMEOUT,
            retry_policy=_ONCE,
        )
        self._pending.discard(req.request_id)
        self._acks[req.request_id] = ack
        return ack


class FakeBatcher:
    """A worker running ``FakeBatcherWorkflow`` for ``plugin``; ``async with`` it.

    ``outcomes``: the answer per table (``{"orders": WriteOutcome.REJECTED}``; tables not
    named are written) or a function ``(table, row) -> Answer``, called once per request id;
    if it raises or returns something else, the row is rejected with that reason. Every shard
    of the plugin is answered here. The attributes say what reached it and what it answered,
    during and after the block.
    """

    def __init__(
        self, client: Client, plugin: WriteBatchingPlugin, outcomes: Outcomes | None = None
    ) -> None:
        self.outcomes = outcomes
        # Submit signals received; concurrent writes of one caller worker share one.
        self.signals = 0
        # Every request received, in order, a resent one each time it came.
        self.requests: list[WriteRequest] = []
        # Request ids answered with a success outcome, once each, in order.
        self.written: list[str] = []
        # Request ids answered WITHDRAWN.
        self.withdrawn: list[str] = []
        self._acks: dict[str, WriteAck] = {}
        self._held: dict[str, Unacked] = {}
        self._dropped: set[str] = set()
        self.worker = Worker(
            client,
            task_queue=plugin.settings.batcher_task_queue,
            workflows=[FakeBatcherWorkflow],
            activities=[self._submit, self._withdraw],
            workflow_runner=with_passthrough(None),
            plugins=[StrictInputsPlugin()],
        )

    async def __aenter__(self) -> Self:
        await self.worker.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.worker.__aexit__(exc_type, exc, tb)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows written to ``table``, one per request id, in the order they were written."""
        by_id = {request.request_id: request for request in self.requests}
        return [by_id[rid].row for rid in self.written if by_id[rid].table == table]

    def _pick(self, request: WriteRequest) -> tuple[Answer, str | None]:
        outcomes = self.outcomes
        try:
            if outcomes is None:
                answer: object = WriteOutcome.WRITTEN
            elif isinstance(outcomes, Mapping):
                answer = outcomes.get(request.table, WriteOutcome.WRITTEN)
            else:
                answer = outcomes(request.table, request.row)
        except Exception as err:
            return WriteOutcome.REJECTED, f"fake batcher: outcomes raised {err!r}"
        if not isinstance(answer, WriteOutcome | Unacked):
            return WriteOutcome.REJECTED, f"fake batcher: outcomes gave {answer!r}, not an Answer"
        return answer, None

    def _settle(self, rid: str, outcome: WriteOutcome, message: str | None = None) -> WriteAck:
        self._held.pop(rid, None)
        if outcome in _SUCCESS:
            ack = WriteAck(rid, outcome, f"batch-{len(self.written)}")
            self.written.append(rid)
        elif outcome is WriteOutcome.REJECTED:
            message = message or "refused by the fake batcher"
            ack = WriteAck(rid, outcome, error_type=errors.ROW_REFUSED, error_message=message)
        else:
            ack = WriteAck(rid, WriteOutcome.WITHDRAWN, error_type=errors.WRITE_WITHDRAWN)
            self.withdrawn.append(rid)
        self._acks[rid] = ack
        return ack

    def _settled(self, rid: str) -> WriteAck | None:
        ack = self._acks.get(rid)
        if ack is not None and ack.outcome in _SUCCESS:
            return WriteAck(rid, WriteOutcome.ALREADY_WRITTEN, ack.batch_id)
        return ack

    @activity.defn(name=SUBMIT_ACTIVITY)
    async def _submit(self, batch: WriteRequestBatch) -> SubmitReply:
        self.signals += 1
        reply = SubmitReply()
        for request in batch.requests:
            self.requests.append(request)
            rid = request.request_id
            ack = self._settled(rid)
            if ack is None and rid in self._held:
                reply.pending.append(rid)
                continue
            if ack is None:
                answer, message = self._pick(request)
                if answer is Unacked.DROPPED_ONCE and rid not in self._dropped:
                    self._dropped.add(rid)
                    continue  # unknown: the caller's worker sends it again
                if answer in (Unacked.UNTIL_DEADLINE, Unacked.WRITTEN_AT_DEADLINE):
                    self._held[rid] = Unacked(answer)
                    reply.pending.append(rid)
                    continue
                outcome = WriteOutcome.WRITTEN if isinstance(answer, Unacked) else answer
                ack = self._settle(rid, outcome, message)
            reply.acks.append(ack)
        return reply

    @activity.defn(name=WITHDRAW_ACTIVITY)
    async def _withdraw(self, req: WithdrawRequest) -> WriteAck:
        rid = req.request_id
        ack = self._settled(rid)
        if ack is not None:
            return ack
        if self._held.get(rid) is Unacked.WRITTEN_AT_DEADLINE:
            return self._settle(rid, WriteOutcome.WRITTEN)
        # Not received, or held: withdrawn, so a copy that arrives later is never written.
        return self._settle(rid, WriteOutcome.WITHDRAWN)
