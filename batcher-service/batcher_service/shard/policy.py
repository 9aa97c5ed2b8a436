"""When a batcher flushes: due by size or clock, all of it to drain, what it cannot carry over."""

from __future__ import annotations

from batcher_service.shard.buffer import RequestBuffer
from batcher_service.shard.carry import PENDING_BYTES
from batcher_service.shard.pacing import FlushPacer
from batcher_service.shard.state import BatcherConfig


class FlushPolicy:
    """Decisions over one batcher run's state; deterministic, workflow time passed in.

    ``policy`` names the phase: "due" (the main loop), "drain" (shutdown: everything) or
    "carry" (before continue-as-new: only what cannot travel to the next run).
    """

    def __init__(self, config: BatcherConfig, pacer: FlushPacer, buffer: RequestBuffer) -> None:
        self.config = config
        self._pacer = pacer
        self._buffer = buffer

    def size_due(self) -> bool:
        cfg = self.config
        # The shard holds at most PENDING_BYTES (pending and in flight): a batch by bytes is
        # due well before that, or the buffer would fill up before its flush started.
        due_bytes = min(cfg.max_batch_bytes, PENDING_BYTES // 4)
        return len(self._buffer) >= cfg.max_batch_size or self._buffer.bytes >= due_bytes

    def next_deadline(self, now: float) -> float | None:
        """Workflow time at which the next flush becomes due by the clock."""
        if not self._buffer.takeable():
            return None
        return self._pacer.deadline(now, self._buffer.oldest_arrival())

    def wants(self, policy: str, now: float, *, ignore_clock: bool = False) -> bool:
        """Whether a flush should start now."""
        if not self._buffer.takeable():
            return False
        held = now < self._pacer.held_until
        if policy == "drain":
            return ignore_clock or not held
        if policy == "due":
            return self._due(now)
        if not self.too_big_to_carry():
            return False
        if ignore_clock or self.config.mode == "fixed":
            return not held or ignore_clock
        # Adaptive mode keeps its one-statement-per-interval promise even here.
        return now >= self.carry_time(now)

    def carry_time(self, now: float) -> float:
        """Before continue-as-new: when the next flush may start."""
        return self.next_deadline(now) or now

    def too_big_to_carry(self) -> bool:
        # What continue-as-new carries is one event's payload (2 MiB hard limit): bound it by
        # bytes, not by count, so a burst is carried over rather than flushed first.
        return self._buffer.bytes >= self.config.max_batch_bytes

    def _due(self, now: float) -> bool:
        deadline = self.next_deadline(now)
        if deadline is None:
            return False
        if self.config.mode == "adaptive" or now < self._pacer.held_until:
            # At most one statement per interval, whatever the load.
            return now >= deadline
        return self.size_due() or now >= deadline
