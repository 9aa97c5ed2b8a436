"""Live counters of a load run and their one-line rendering on stderr."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

BAR_WIDTH = 24
RATE_WINDOW_S = 5.0


@dataclass
class Progress:
    """Started, acked and failed workflows, and the ack times of the last few seconds."""

    total: int
    started: int = 0
    acked: int = 0
    failed: int = 0
    began: float = field(default_factory=time.monotonic)
    _recent: deque[float] = field(default_factory=deque)

    def on_start(self) -> None:
        self.started += 1

    def on_ack(self) -> None:
        self.acked += 1
        self._recent.append(time.monotonic())

    def on_fail(self) -> None:
        self.failed += 1

    @property
    def in_flight(self) -> int:
        return self.started - self.acked - self.failed

    def current_rate(self) -> float:
        now = time.monotonic()
        while self._recent and now - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()
        window = min(RATE_WINDOW_S, max(now - self.began, 1e-3))
        return len(self._recent) / window

    def line(self) -> str:
        done = self.acked + self.failed
        filled = int(BAR_WIDTH * done / self.total) if self.total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return (
            f"[{bar}] started {self.started}/{self.total}  acked {self.acked}  "
            f"failed {self.failed}  in flight {self.in_flight}  "
            f"{self.current_rate():.1f}/s  {time.monotonic() - self.began:.0f}s"
        )


async def render(progress: Progress, stream: TextIO = sys.stderr, every: float = 5.0) -> None:
    """Redraw one line in place on a TTY (twice a second), else print a line every ``every`` s."""
    tty = stream.isatty()
    try:
        while True:
            await asyncio.sleep(0.5 if tty else every)
            if tty:
                stream.write("\r\x1b[K" + progress.line())
            else:
                stream.write(progress.line() + "\n")
            stream.flush()
    finally:
        stream.write(("\r\x1b[K" if tty else "") + progress.line() + "\n")
        stream.flush()
