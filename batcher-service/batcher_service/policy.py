"""When a batcher flushes: due by size or clock, all of it to drain, what it cannot carry over."""

from __future__ import annotations

from batcher_service.buffer import RequestBuffer
from batcher_service.pacing import FlushPacer
from batcher_service.waiters import AckWaiters
from shared.payloads import BatcherConfig

MAX_NOTICES_PER_FLUSH = 1_000


class FlushPolicy:
    """Decisions over one batcher run's state; deterministic, workflow time passed in.

    ``policy`` names the phase: "due" (the main loop), "drain" (shutdown: everything) or
    "carry" (before continue-as-new: only what cannot travel to the next run).
    """

    def __init__(
        self, config: BatcherConfig, pacer: FlushPacer, buffer: RequestBuffer, waiters: AckWaiters
    ) -> None:
        self.config = config
        self._pacer = pacer
        self._buffer = buffer
        self._waiters = waiters

    def size_due(self) -> bool:
        cfg = self.config
        return len(self._buffer) >= cfg.max_batch_size or self._buffer.bytes >= cfg.max_batch_bytes

    def next_deadline(self, now: float, notices: int) -> float | None:
        """Workflow time at which the next flush becomes due by the clock."""
        if not self._buffer and not notices:
            return None
        return self._pacer.deadline(now, self._buffer.oldest_arrival())

    def wants(self, policy: str, now: float, notices: int, *, ignore_clock: bool = False) -> bool:
        """Whether a flush should start now."""
        if policy == "drain":
            return bool(self._buffer or notices)
        if policy == "due":
            return self._due(now, notices)
        owed = self._owed()
        if not owed and not self.too_big_to_carry(notices):
            return False
        if ignore_clock or self.config.mode == "fixed":
            return True
        # Adaptive mode keeps its one-statement-per-interval promise even here.
        return now >= self.carry_time(now, notices)

    def carry_time(self, now: float, notices: int) -> float:
        """Before continue-as-new, adaptive mode: when the next flush may start."""
        if self._owed():
            # Waiting updates hold up the next run: only the minimum interval is kept.
            return self._pacer.earliest(now)
        return self.next_deadline(now, notices) or now

    def _owed(self) -> bool:
        # An update's answer cannot be carried over: what is held goes out while one waits.
        return bool(self._waiters) and bool(self._buffer)

    def too_big_to_carry(self, notices: int) -> bool:
        # What continue-as-new carries is one event's payload (2 MiB hard limit): bound it by
        # bytes, not by count, so a burst is carried over rather than flushed first.
        return self._buffer.bytes >= self.config.max_batch_bytes or notices > MAX_NOTICES_PER_FLUSH

    def _due(self, now: float, notices: int) -> bool:
        deadline = self.next_deadline(now, notices)
        if deadline is None:
            return False
        if self.config.mode == "adaptive":
            # At most one statement per interval, whatever the load.
            return now >= deadline
        return self.size_due() or now >= deadline
