"""The caller library's knobs: one place for their names, defaults and ranges."""

from __future__ import annotations

from dataclasses import dataclass, fields

from write_batcher.contract import BATCHER_TASK_QUEUE

# Beyond an hour a write is not waiting for a batch: it is waiting for an operator.
MAX_ACK_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True)
class WriteSettings:
    """``WriteBatchingPlugin``'s keyword arguments; our services read each from the environment
    variable of the same name in upper case (``ack_timeout_seconds``: ``ACK_TIMEOUT_SECONDS``).

    Everything else (shards, signal coalescing, row size limit) is the batcher service's.
    """

    # How long a write waits for its outcome before it is withdrawn (WriteConfirmationTimeout):
    # the write activity's schedule-to-close timeout, kept by the Temporal server.
    ack_timeout_seconds: float = 120.0
    # Where the batcher service's workers poll: the write activity is scheduled there.
    batcher_task_queue: str = BATCHER_TASK_QUEUE

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError("; ".join(problems))

    def _problems(self) -> list[str]:
        checks = [
            (
                0 < self.ack_timeout_seconds <= MAX_ACK_TIMEOUT_SECONDS,
                f"ack_timeout_seconds must be in (0, {MAX_ACK_TIMEOUT_SECONDS:g}]",
            ),
            (bool(self.batcher_task_queue), "batcher_task_queue must not be empty"),
        ]
        return [message for ok, message in checks if not ok]


def setting_names() -> list[str]:
    """The knobs' names, in declaration order."""
    return [f.name for f in fields(WriteSettings)]


# Workflow code finds its worker's settings by the task queue it runs on: a plugin registers
# them when it configures a worker. A workflow on a queue no plugin configured (a Replayer,
# a worker without the plugin) uses the defaults.
_BY_TASK_QUEUE: dict[str, WriteSettings] = {}
_DEFAULTS = WriteSettings()


def register(task_queue: str, settings: WriteSettings) -> None:
    _BY_TASK_QUEUE[task_queue] = settings


def settings_for(task_queue: str) -> WriteSettings:
    return _BY_TASK_QUEUE.get(task_queue, _DEFAULTS)
