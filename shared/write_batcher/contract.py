"""The contract between callers and the batcher: names on the wire and the payloads they carry.

Both sides import it; nothing else crosses the wire. No ``from __future__ import annotations``:
the SDK resolves these field types from inside the workflow sandbox.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from temporalio.client import Client

__all__ = [
    "BATCHER_ID_PREFIX",
    "BATCHER_TASK_QUEUE",
    "BATCHER_TASK_TIMEOUT",
    "BATCHER_WORKFLOW",
    "SUBMIT_SIGNAL",
    "WITHDRAW_ACTIVITY",
    "WITHDRAW_UPDATE",
    "WRITE_ACTIVITY",
    "WithdrawRequest",
    "WriteAck",
    "WriteInput",
    "WriteOutcome",
    "WriteRequest",
    "WriteRequestBatch",
    "batcher_workflow_id",
    "signal_shard",
]

BATCHER_TASK_QUEUE: Final = "write-batching-batcher"
BATCHER_WORKFLOW: Final = "WriteBatcherWorkflow"
BATCHER_ID_PREFIX: Final = "write-batcher"
# A shard's workflow-task timeout. A task a killed batcher worker had started reaches another
# worker only once it times out, so this bounds the stall after a kill -9 (writes resume within
# 5 s of a restarted worker being up). The shard's tasks are short: on an idle 2-core machine a
# burst of 5,000 one-request signals made tasks of at most 0.9 s, and a full replay of a
# 2,000-event run took 0.8 s, so a loaded machine has room before a task times out.
BATCHER_TASK_TIMEOUT: Final = timedelta(seconds=5)

# Several callers' writes in one signal: one history event and one RPC for all of them.
SUBMIT_SIGNAL: Final = "submit_writes"
# Settles a write whose caller's deadline passed: withdrawn, or the outcome it had.
WITHDRAW_UPDATE: Final = "withdraw_write"
# The write itself: an activity the caller's workflow schedules on the batcher task queue.
# The batcher worker validates the row, hands it to its shard and completes the activity
# asynchronously, by its id, once the row's outcome is settled.
WRITE_ACTIVITY: Final = "write_batching_write"
# Run by the caller's workflow when its write's deadline passed or it was cancelled.
WITHDRAW_ACTIVITY: Final = "write_batching_withdraw"


def batcher_workflow_id(shard: int, prefix: str = BATCHER_ID_PREFIX) -> str:
    """Workflow id of one batcher shard; stable so callers can signal-with-start it."""
    return f"{prefix}-{shard}"


@dataclass
class WriteInput:
    """What a caller's workflow sends with its write activity (and its withdrawal)."""

    request_id: str
    table: str
    row: dict[str, Any]
    # None: derived from the table's key (keyed tables) or the request id (append).
    partition_key: str | None = None


@dataclass
class WriteRequest:
    """One row a caller hands to the batcher, for one of the tables in its spec file."""

    request_id: str
    table: str
    caller_workflow_id: str
    # Routes the request to its shard: writes to one key always meet in one shard.
    partition_key: str
    row: dict[str, Any]
    # The caller's write activity, completed by id with the ack once the row is settled.
    # None (a dead letter resubmitted by an operator): nobody waits for the answer.
    caller_run_id: str | None = None
    caller_activity_id: str | None = None
    # Which attempt of that activity sent it: a full shard backs a resender off further.
    caller_attempt: int = 1
    # The write's trace (W3C traceparent of its intake activity), when the batcher traces:
    # the shard's spans for it join the caller's trace. None when tracing is off.
    trace_parent: str | None = None


@dataclass
class WriteRequestBatch:
    """Concurrent callers' requests for one shard, coalesced by their worker into one signal."""

    requests: list[WriteRequest]


class WriteOutcome(StrEnum):
    """What happened to a request. Every outcome but REJECTED and WITHDRAWN is a success."""

    WRITTEN = "written"
    # This request id was written before (a resend): the row is there, once.
    ALREADY_WRITTEN = "already_written"
    # Insert mode: a row with the same key was already in the table; it was left as it was.
    KEY_EXISTS = "key_exists"
    # Upsert mode: a later write to the same key in the same batch won.
    SUPERSEDED = "superseded"
    REJECTED = "rejected"
    # The caller's deadline passed before it was written; it never will be.
    WITHDRAWN = "withdrawn"


@dataclass
class WriteAck:
    """The batcher's answer to one request: the result of its caller's write activity."""

    request_id: str
    outcome: WriteOutcome
    batch_id: str | None = None
    error_type: str | None = None
    error_message: str | None = None


@dataclass
class WithdrawRequest:
    """A caller whose deadline passed: withdraw the write unless it is already written."""

    request_id: str
    # The write's table: a withdrawal the shard never saw is recorded under it.
    table: str | None = None


async def signal_shard(
    client: Client,
    shard_workflow_id: str,
    requests: Sequence[WriteRequest],
    *,
    task_queue: str = BATCHER_TASK_QUEUE,
) -> None:
    """Hand requests to one shard in one signal-with-start: it reaches the running batcher or
    starts it, so nobody starts batchers by hand."""
    await client.start_workflow(
        BATCHER_WORKFLOW,
        id=shard_workflow_id,
        task_queue=task_queue,
        start_signal=SUBMIT_SIGNAL,
        start_signal_args=[WriteRequestBatch(list(requests))],
        task_timeout=BATCHER_TASK_TIMEOUT,
    )
