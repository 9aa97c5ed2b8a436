"""Test a workflow that writes, without PostgreSQL or the batcher service.

``FakeBatcher(client, tables, outcomes, plugin=plugin)`` runs a worker on the batcher task
queue of your ``WriteBatchingPlugin`` with the batcher's write and withdraw activities. Your
workflow's ``write()`` calls go through the real library (request ids, the activity on the
batcher's queue, its deadline and retries, the withdrawal) and through the same strict
validation against ``tables`` as the batcher service's; the fake answers each row at once:
``WriteOutcome.WRITTEN`` unless ``outcomes`` says otherwise, per table (a mapping) or per row
(a function of the table and the row)::

    plugin = WriteBatchingPlugin()
    async with (
        Worker(env.client, task_queue="orders", workflows=[OrderWorkflow], plugins=[plugin]),
        FakeBatcher(
            env.client, "tables.yaml", {"order_events": WriteOutcome.REJECTED}, plugin=plugin
        ) as batcher,
    ):
        ...  # run your workflow
    assert batcher.rows("orders") == [...]  # what it wrote, still there after the block

It works in the time-skipping environment (``WorkflowEnvironment.start_time_skipping``) and on
a dev server (``WorkflowEnvironment.start_local``). A write's deadline is its activity's
schedule-to-close timeout, kept by the server; the time-skipping server does not skip time
while an activity is pending, so a write held until its deadline (``UNTIL_DEADLINE``,
``WRITTEN_AT_DEADLINE``) waits it in real time on either: give the plugin a short
``ack_timeout_seconds`` for those. The answers (``Answer``):

- ``WriteOutcome.WRITTEN``, ``ALREADY_WRITTEN``, ``KEY_EXISTS``, ``SUPERSEDED``: ``write()``
  returns a ``WriteResult`` with that outcome (batch ids ``batch-0``, ``batch-1``, ...). The
  same request id sent again (an ``idempotency_key`` used twice) is ``ALREADY_WRITTEN``.
- ``WriteOutcome.REJECTED``: ``write()`` raises ``errors.WRITE_REJECTED``; its ``details[0]``
  is the ack, error type ``errors.ROW_REFUSED``.
- ``WriteOutcome.WITHDRAWN``: ``write()`` raises ``errors.WRITE_CONFIRMATION_TIMEOUT`` at once,
  as it does when a write's deadline passed and the batcher withdrew it.
- ``Unacked.DROPPED_ONCE``, ``UNTIL_DEADLINE``, ``WRITTEN_AT_DEADLINE``: the write waits (see
  ``Unacked``).

Nothing runs at import; it needs only the library's own dependencies.
"""

# No ``from __future__ import annotations``: the SDK decodes these dataclasses by their hints.
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self, TypeAlias

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from write_batcher import errors
from write_batcher._plugin import StrictInputsPlugin, WriteBatchingPlugin
from write_batcher._table_files import load_table_specs
from write_batcher._validation import validate_activity_input
from write_batcher.contract import (
    BATCHER_TASK_QUEUE,
    WITHDRAW_ACTIVITY,
    WRITE_ACTIVITY,
    WriteAck,
    WriteInput,
    WriteOutcome,
    WriteRequest,
)
from write_batcher.tables import TableSpec

__all__ = ["Answer", "FakeBatcher", "Outcomes", "Unacked"]

# The batcher service's default (its MAX_ROW_BYTES).
DEFAULT_MAX_ROW_BYTES = 16 * 1024


class Unacked(StrEnum):
    """Answers that leave the caller waiting."""

    # Dropped the first time, as a full shard drops it: the write's activity fails
    # (retryable) and runs again after its retry policy's first interval (about 1 s); the
    # second time it is written.
    DROPPED_ONCE = "dropped_once"
    # Never answered: at its deadline the caller withdraws it and ``write()`` raises
    # ``errors.WRITE_CONFIRMATION_TIMEOUT``.
    UNTIL_DEADLINE = "until_deadline"
    # Never answered, but written by the time the caller withdraws it at its deadline:
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


class FakeBatcher:
    """A worker with the batcher's write and withdraw activities; ``async with`` it.

    ``tables``: the spec file (YAML) or the specs, as the batcher service reads them: rows
    are validated as strictly (``errors.INVALID_WRITE``). ``outcomes``: the answer per table
    (``{"orders": WriteOutcome.REJECTED}``; tables not named are written) or a function
    ``(table, row) -> Answer``, called once per request id; if it raises or returns something
    else, the row is rejected with that reason. ``plugin``: the caller workers' plugin, whose
    batcher task queue the fake serves (default: the library's). The attributes say what
    reached it and what it answered, during and after the block.
    """

    def __init__(
        self,
        client: Client,
        tables: str | Path | Mapping[str, TableSpec],
        outcomes: Outcomes | None = None,
        *,
        plugin: WriteBatchingPlugin | None = None,
        max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
    ) -> None:
        self.tables = load_table_specs(tables) if isinstance(tables, str | Path) else dict(tables)
        self.outcomes = outcomes
        self.max_row_bytes = max_row_bytes
        # Write activity attempts that reached the fake (a retried write counts each time).
        self.attempts = 0
        # Every request received, in order, a resent one each time it came.
        self.requests: list[WriteRequest] = []
        # Request ids answered with a success outcome, once each, in order.
        self.written: list[str] = []
        # Request ids answered WITHDRAWN.
        self.withdrawn: list[str] = []
        self._acks: dict[str, WriteAck] = {}
        self._held: dict[str, Unacked] = {}
        self._dropped: set[str] = set()
        queue = plugin.settings.batcher_task_queue if plugin is not None else BATCHER_TASK_QUEUE
        self.worker = Worker(
            client,
            task_queue=queue,
            activities=[self._write, self._withdraw],
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

    @activity.defn(name=WRITE_ACTIVITY)
    async def _write(self, write: WriteInput) -> WriteAck:
        self.attempts += 1
        request, _ = validate_activity_input(self.tables, write, max_row_bytes=self.max_row_bytes)
        self.requests.append(request)
        rid = request.request_id
        ack = self._settled(rid)
        if ack is not None:
            return ack
        if rid in self._held:
            self._wait_forever()
        answer, message = self._pick(request)
        if answer is Unacked.DROPPED_ONCE and rid not in self._dropped:
            self._dropped.add(rid)
            raise ApplicationError("fake batcher: shard full", type=errors.BATCHER_OVERLOADED)
        if answer in (Unacked.UNTIL_DEADLINE, Unacked.WRITTEN_AT_DEADLINE):
            self._held[rid] = Unacked(answer)
            self._wait_forever()
        outcome = WriteOutcome.WRITTEN if isinstance(answer, Unacked) else answer
        return self._settle(rid, outcome, message)

    @staticmethod
    def _wait_forever() -> NoReturn:
        # As the batcher does: the activity is left open, to be completed by id (never, here).
        activity.raise_complete_async()

    @activity.defn(name=WITHDRAW_ACTIVITY)
    async def _withdraw(self, write: WriteInput) -> WriteAck:
        rid = write.request_id
        ack = self._settled(rid)
        if ack is not None:
            return ack
        if self._held.get(rid) is Unacked.WRITTEN_AT_DEADLINE:
            return self._settle(rid, WriteOutcome.WRITTEN)
        # Not received, or held: withdrawn, so a copy that arrives later is never written.
        return self._settle(rid, WriteOutcome.WITHDRAWN)
