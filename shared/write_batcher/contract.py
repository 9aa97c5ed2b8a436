"""The contract between callers and the batcher: names on the wire and the payloads they carry.

Both sides import it; nothing else crosses the wire. No ``from __future__ import annotations``:
the SDK resolves these field types from inside the workflow sandbox.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from temporalio.client import Client

__all__ = [
    "ACKS_QUERY",
    "BATCHER_ID_PREFIX",
    "BATCHER_TASK_QUEUE",
    "BATCHER_WORKFLOW",
    "SUBMIT_SIGNAL",
    "WITHDRAW_UPDATE",
    "WRITE_ACTIVITY",
    "AckQuery",
    "AckReport",
    "WithdrawRequest",
    "WriteAck",
    "WriteOutcome",
    "WriteRequest",
    "WriteRequestBatch",
    "batcher_workflow_id",
    "signal_shard",
]

BATCHER_TASK_QUEUE: Final = "write-batching-batcher"
BATCHER_WORKFLOW: Final = "WriteBatcherWorkflow"
BATCHER_ID_PREFIX: Final = "write-batcher"

# Several callers' writes in one signal: one history event and one RPC for all of them.
SUBMIT_SIGNAL: Final = "submit_writes"
# A caller worker collects its callers' acks from a shard with this query: no event in any
# history, no limit on how many caller workers ask at once.
ACKS_QUERY: Final = "write_acks"
# A caller whose deadline passed settles its write: withdrawn, or the outcome it had.
WITHDRAW_UPDATE: Final = "withdraw_write"
# The caller library's local activity, registered on every caller worker by its plugin: it
# submits a write, waits for its ack and settles it at the deadline.
WRITE_ACTIVITY: Final = "write_batching_write"


def batcher_workflow_id(shard: int, prefix: str = BATCHER_ID_PREFIX) -> str:
    """Workflow id of one batcher shard; stable so callers can signal-with-start it."""
    return f"{prefix}-{shard}"


@dataclass
class WriteRequest:
    """One row a caller hands to the batcher, for one of the tables in its spec file."""

    request_id: str
    table: str
    caller_workflow_id: str
    # Routes the request to its shard: writes to one key always meet in one shard.
    partition_key: str
    row: dict[str, Any]


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
    """The batcher's answer to one request, collected by its caller's worker (``AckQuery``)."""

    request_id: str
    outcome: WriteOutcome
    batch_id: str | None = None
    error_type: str | None = None
    error_message: str | None = None


@dataclass
class AckQuery:
    """A caller worker asks a shard what became of the writes its callers wait for."""

    request_ids: list[str]


@dataclass
class AckReport:
    """The shard's answer: acks settled, ids still to be written; any other id is unknown."""

    acks: list[WriteAck] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


@dataclass
class WithdrawRequest:
    """A caller whose deadline passed: withdraw the write unless it is already written."""

    request_id: str


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
    )
