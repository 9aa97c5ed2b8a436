"""Payload dataclasses on the wire between callers, the batcher and its activities."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


def make_request_id(caller_workflow_id: str, sequence: int) -> str:
    """Idempotency key: the same caller and sequence always give the same id."""
    return f"{caller_workflow_id}#{sequence}"


@dataclass
class WriteRequest:
    """One row a caller hands to the batcher."""

    request_id: str
    caller_workflow_id: str
    partition_key: str
    row: dict[str, Any]


@dataclass
class WriteRequestBatch:
    """Concurrent callers' requests for one shard, coalesced by their worker into one message."""

    requests: list[WriteRequest]


class WriteOutcome(StrEnum):
    """What happened to a request."""

    WRITTEN = "written"
    ALREADY_WRITTEN = "already_written"
    REJECTED = "rejected"


@dataclass
class WriteAck:
    """The batcher's answer to one request: signalled to its caller, or returned by update."""

    request_id: str
    outcome: WriteOutcome
    batch_id: str | None = None
    error_type: str | None = None
    error_message: str | None = None


@dataclass
class WriteAckBatch:
    """The answers to a ``WriteRequestBatch`` sent by update, in the same order."""

    acks: list[WriteAck]
    # The batcher's current gap between flushes: senders pace their next updates by it.
    flush_interval_seconds: float = 0.0


@dataclass
class AddressedAck:
    """An ack together with the caller workflow it goes to."""

    caller_workflow_id: str
    ack: WriteAck


@dataclass
class BatcherConfig:
    """Batcher tuning, read from the batcher worker's environment by a local activity."""

    max_batch_size: int = 500
    max_wait_seconds: float = 1.0
    # "adaptive" (default): a request is flushed at once when the last flush began at least
    # the current interval ago, else requests gather until then: at most one statement per
    # interval per shard. The interval follows the square of the shard's arrival rate, from
    # min_interval (idle: a write does not wait out a window) to max_interval, at full_load_rate
    # writes/s (the database sees one statement per max_interval, batches of rate x interval).
    # "fixed": flush at the cap or when the oldest request has waited max_wait.
    # Chosen from `make bench`: see the README's "Choosing the batching mode".
    mode: str = "adaptive"
    min_interval_seconds: float = 0.25
    max_interval_seconds: float = 2.5
    full_load_rate: float = 25.0
    max_pending: int = 20_000
    max_signals_per_run: int = 8_000
    max_inflight_flushes: int = 4
    ack_transport: str = "activity"
    dedup_window: int = 2_000
    # A flush's input is one history event; stay far below Temporal's 2 MiB payload limit.
    max_batch_bytes: int = 1_000_000


@dataclass
class PendingRequest:
    """A buffered request and the workflow time it arrived."""

    request: WriteRequest
    arrived_at: float
    size_bytes: int


@dataclass
class BatcherStats:
    """Live counters, returned by the stats query and carried through continue-as-new."""

    pending: int = 0
    inflight_flushes: int = 0
    batches: int = 0
    rows_written: int = 0
    rows_already_written: int = 0
    rows_rejected: int = 0
    duplicates_dropped: int = 0
    overloaded_rejections: int = 0
    acks_sent: int = 0
    acks_failed: int = 0
    # Acks returned to callers waiting in an update (SUBMIT_TRANSPORT=update).
    acks_replied: int = 0
    runs: int = 1
    signals_this_run: int = 0
    largest_batch: int = 0
    # Adaptive mode: the gap now kept between flushes and the arrival rate it follows.
    interval_seconds: float = 0.0
    arrival_rate: float = 0.0


@dataclass
class BatcherState:
    """Everything a batcher run hands to the next one through continue-as-new."""

    pending: list[PendingRequest] = field(default_factory=list)
    recent_request_ids: list[str] = field(default_factory=list)
    # Acks owed without a write: duplicates of flushed requests, overload refusals.
    notices: list[AddressedAck] = field(default_factory=list)
    stats: BatcherStats = field(default_factory=BatcherStats)
    last_flush_started_at: float | None = None
    shutting_down: bool = False
    # Requests per second seen by the adaptive interval, so a new run keeps its pace.
    arrival_rate: float = 0.0


@dataclass
class FlushInput:
    """One batch for the flush activity: rows to write and acks owed without a write."""

    batch_id: str
    requests: list[WriteRequest]
    notices: list[AddressedAck] = field(default_factory=list)
    # False when the workflow sends acks itself (ACK_TRANSPORT=workflow).
    send_acks: bool = True
    # Requests whose callers wait in an update: their acks are returned, never signalled.
    reply_ids: list[str] = field(default_factory=list)


@dataclass
class FlushResult:
    """What one flush did; acks are returned only when the workflow sends them itself."""

    batch_id: str
    written: int
    already_written: int
    rejected: int
    statements: int
    rejected_ids: list[str] = field(default_factory=list)
    acks_sent: int = 0
    acks_failed: int = 0
    # The acks of reply_ids, and every ack when send_acks was False.
    acks: list[AddressedAck] = field(default_factory=list)


@dataclass
class PaymentRequest:
    """Input of the business workflow."""

    payment_id: str
    account_id: str
    amount_cents: int
    currency: str = "EUR"
    memo: str | None = None


@dataclass
class AuthorizeResult:
    """What the business activity returns."""

    auth_code: str


@dataclass
class PaymentResult:
    """Output of the business workflow."""

    payment_id: str
    request_id: str
    outcome: WriteOutcome
    batch_id: str | None
    auth_code: str
    # From handing the write over to its ack, in workflow time: what batching added.
    write_latency_ms: float | None = None


@dataclass
class SubmitResult:
    """Where the submit activity routed a request, and its ack when it waited for it.

    ``ack`` is None when the write went by signal: the ack then arrives by signal, and the
    caller waits at most ``ack_timeout_seconds`` for it.
    """

    batcher_workflow_id: str
    ack_timeout_seconds: float
    ack: WriteAck | None = None
