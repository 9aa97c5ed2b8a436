"""The batcher's own payloads: its config, the state a run carries over, flushes and look-ups."""

# No ``from __future__ import annotations``: the SDK resolves these field types from inside
# the workflow sandbox, where this module's globals may not be reachable by name.

from dataclasses import dataclass, field

from write_batcher.contract import WriteAck, WriteOutcome, WriteRequest


@dataclass
class WithdrawnRequest:
    """A withdrawal to record in the request table, under the write's table."""

    request_id: str
    table: str


@dataclass
class RecordWithdrawals:
    """Withdrawals for the request table: each recorded "withdrawn" unless written before."""

    batch_id: str
    requests: list[WithdrawnRequest]


@dataclass
class SettledAck:
    """An ack the batcher holds to answer copies and withdrawals, and when it was settled."""

    ack: WriteAck
    settled_at: float


@dataclass
class Delivery:
    """An answer owed to a caller's write activity that no flush of its row will give: a copy
    of a written or withdrawn write, a row dropped while the shard was full, a batch that
    failed for good. The next flush completes (or fails) the activity by its id."""

    caller_workflow_id: str
    caller_run_id: str
    caller_activity_id: str
    ack: WriteAck
    # The shard was full: the attempt fails (retryable) and the caller sends the row again,
    # not before about ``retry_after_seconds`` (the time the shard needs to make room).
    overloaded: bool = False
    retry_after_seconds: float = 0.0


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
    mode: str = "adaptive"
    min_interval_seconds: float = 0.25
    max_interval_seconds: float = 2.5
    full_load_rate: float = 25.0
    max_pending: int = 20_000
    max_signals_per_run: int = 8_000
    max_inflight_flushes: int = 4
    dedup_window: int = 2_000
    # A flush's input is one history event; stay far below Temporal's 2 MiB payload limit.
    max_batch_bytes: int = 1_000_000
    # Every flush ends within this bound: a database that stays unreachable longer hands the
    # batch's requests back to the buffer (still pending, still withdrawable).
    flush_timeout_seconds: float = 30.0


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
    rows_key_exists: int = 0
    rows_superseded: int = 0
    rows_rejected: int = 0
    rows_withdrawn: int = 0
    rows_dead_lettered: int = 0
    dead_letter_failures: int = 0
    # Flushes that ended without writing (database unreachable past the flush timeout).
    flushes_failed: int = 0
    duplicates_dropped: int = 0
    overloaded_rejections: int = 0
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
    # Acks settled lately: the answer to a copy or a withdrawal without asking the database.
    settled: list[SettledAck] = field(default_factory=list)
    # Answers owed to callers, not yet delivered by a flush.
    deliveries: list[Delivery] = field(default_factory=list)
    # Withdrawals answered "withdrawn" but not yet in the request table (which then refuses
    # every copy): until recorded, this refuses them.
    withdrawn: list[WithdrawnRequest] = field(default_factory=list)
    # Withdrawals only the request table can settle (withdrawn unless written before).
    settling: list[WithdrawnRequest] = field(default_factory=list)
    stats: BatcherStats = field(default_factory=BatcherStats)
    last_flush_started_at: float | None = None
    shutting_down: bool = False
    # Requests per second seen by the adaptive interval, so a new run keeps its pace.
    arrival_rate: float = 0.0
    # Consecutive flushes that ended without writing: the next waits longer.
    failed_flushes_in_a_row: int = 0
    # Pending requests whose last flush's commit is in doubt: a withdrawal asks the database.
    in_doubt: list[str] = field(default_factory=list)
    # The config the last run judged by: the next judges its first signals by it too (None:
    # the first run, which holds its signals until its config is loaded).
    config: BatcherConfig | None = None


@dataclass
class FlushInput:
    """One batch for the flush activity: the rows to write in one transaction, and answers
    owed to other callers, delivered on the way."""

    batch_id: str
    requests: list[WriteRequest]
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass
class FlushResult:
    """What one flush did; the workflow derives every request's ack from it."""

    batch_id: str
    written: int
    already_written: int
    rejected: int
    statements: int
    key_exists: int = 0
    superseded: int = 0
    dead_lettered: int = 0
    dead_letter_failures: int = 0
    rejected_ids: list[str] = field(default_factory=list)
    # Every ack that is not a plain "written by this batch" (the rest are implied).
    exceptions: list[WriteAck] = field(default_factory=list)


@dataclass
class RequestLookup:
    """One request id as the batcher's request table records it (None: never written)."""

    request_id: str
    outcome: WriteOutcome | None
    batch_id: str | None = None
    table: str | None = None
