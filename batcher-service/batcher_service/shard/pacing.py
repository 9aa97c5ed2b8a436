"""When a shard's next flush is due: the fixed window, or an interval that follows the load."""

from __future__ import annotations

from batcher_service.shard.state import BatcherConfig

# Weight of the newest interval in the arrival-rate estimate: a few flushes follow a change.
RATE_SMOOTHING = 0.5


class FlushPacer:
    """Workflow-time pacing of flushes; deterministic, so it lives in the workflow's state.

    Adaptive mode keeps at least ``interval()`` between flush starts. The interval grows with
    the arrival rate, from ``min_interval`` when the shard is quiet (the next write goes out
    at once) to ``max_interval`` at ``full_load_rate``: the busier the shard, the larger each
    batch and the fewer statements per row, yet never more than one per ``min_interval``.
    It grows with the square of the rate: at a tenth of full load the database
    is idle and a write should not wait, near full load statements are what matter.
    """

    def __init__(
        self, config: BatcherConfig, last_flush_started_at: float | None, arrival_rate: float
    ) -> None:
        self.config = config
        self.last_flush_started_at = last_flush_started_at
        self.arrival_rate = arrival_rate
        # After a flush that could not write: no flush starts before this workflow time.
        self.held_until = float("-inf")
        self._arrivals = 0

    def arrived(self) -> None:
        self._arrivals += 1

    def interval(self) -> float:
        cfg = self.config
        longest = max(cfg.max_interval_seconds, cfg.min_interval_seconds)
        load = self.arrival_rate / cfg.full_load_rate
        stretched = longest * load * load
        return min(longest, max(cfg.min_interval_seconds, stretched))

    def deadline(self, now: float, oldest_arrival: float | None) -> float:
        """Workflow time at which what is held becomes due by the clock."""
        return max(self._deadline(now, oldest_arrival), self.held_until)

    def _deadline(self, now: float, oldest_arrival: float | None) -> float:
        cfg = self.config
        if cfg.mode == "adaptive":
            if self.last_flush_started_at is None:
                return now
            return self.last_flush_started_at + self.interval()
        if oldest_arrival is None:
            return now
        # Counted from the oldest request's arrival, not from the last flush.
        return oldest_arrival + cfg.max_wait_seconds

    def failed(self, now: float, in_a_row: int) -> None:
        """A flush ended without writing: back off, doubling up to the max interval x 4."""
        cap = max(self.config.max_interval_seconds * 4, 1.0)
        self.held_until = now + min(0.5 * 2 ** max(in_a_row - 1, 0), cap)

    def flush_started(self, now: float) -> None:
        if self.last_flush_started_at is not None:
            elapsed = max(now - self.last_flush_started_at, self.config.min_interval_seconds)
            observed = self._arrivals / elapsed
            self.arrival_rate += RATE_SMOOTHING * (observed - self.arrival_rate)
        self._arrivals = 0
        self.last_flush_started_at = now
