"""The caller library's knobs: one place for their names, defaults and ranges."""

from __future__ import annotations

from dataclasses import dataclass, fields

from write_batcher.contract import BATCHER_ID_PREFIX, BATCHER_TASK_QUEUE

# The write activity's own bound lies inside the workflow's local activity timeout.
MAX_ACK_TIMEOUT_SECONDS = 3600.0
MAX_WITHDRAW_RETRY_SECONDS = 240.0


@dataclass(frozen=True)
class WriteSettings:
    """``WriteBatchingPlugin``'s keyword arguments; our services read each from the environment
    variable of the same name in upper case (``ack_timeout_seconds``: ``ACK_TIMEOUT_SECONDS``).
    """

    # How many batcher shards the table's partition keys are spread over; every caller worker
    # of one app must use the same number.
    batcher_shards: int = 1
    # How long a write waits for its ack before it is withdrawn (WriteConfirmationTimeout).
    ack_timeout_seconds: float = 120.0
    # How long a caller worker gathers concurrent writes to one shard into one signal.
    submit_linger_seconds: float = 0.2
    # How often a caller worker asks each shard it waits on for acks.
    ack_poll_seconds: float = 0.2
    # A row larger than this, as JSON, is refused at once (InvalidWrite).
    max_row_bytes: int = 16 * 1024
    # How long a withdrawal at the deadline keeps trying to reach the batcher.
    withdraw_retry_seconds: float = 30.0
    batcher_task_queue: str = BATCHER_TASK_QUEUE
    batcher_id_prefix: str = BATCHER_ID_PREFIX

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError("; ".join(problems))

    def _problems(self) -> list[str]:
        checks = [
            (self.batcher_shards >= 1, "batcher_shards must be at least 1"),
            (
                0 < self.ack_timeout_seconds <= MAX_ACK_TIMEOUT_SECONDS,
                f"ack_timeout_seconds must be in (0, {MAX_ACK_TIMEOUT_SECONDS:g}]",
            ),
            (self.submit_linger_seconds >= 0, "submit_linger_seconds must be at least 0"),
            (0.01 <= self.ack_poll_seconds <= 10, "ack_poll_seconds must be in [0.01, 10]"),
            (self.max_row_bytes >= 1, "max_row_bytes must be at least 1"),
            (
                0 < self.withdraw_retry_seconds <= MAX_WITHDRAW_RETRY_SECONDS,
                f"withdraw_retry_seconds must be in (0, {MAX_WITHDRAW_RETRY_SECONDS:g}]",
            ),
            (bool(self.batcher_task_queue), "batcher_task_queue must not be empty"),
            (bool(self.batcher_id_prefix), "batcher_id_prefix must not be empty"),
        ]
        return [message for ok, message in checks if not ok]


def setting_names() -> list[str]:
    """The knobs' names, in declaration order."""
    return [f.name for f in fields(WriteSettings)]
