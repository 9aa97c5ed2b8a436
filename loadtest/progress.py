"""Live counters of a load run, drawn on stderr by rich (a progress bar on a terminal)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

from rich import progress as rich_progress
from rich.console import Console

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
    def done(self) -> int:
        return self.acked + self.failed

    @property
    def in_flight(self) -> int:
        return self.started - self.done

    def current_rate(self) -> float:
        now = time.monotonic()
        while self._recent and now - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()
        window = min(RATE_WINDOW_S, max(now - self.began, 1e-3))
        return len(self._recent) / window

    def counters(self) -> str:
        return (
            f"started {self.started}/{self.total}  acked {self.acked}  failed {self.failed}  "
            f"in flight {self.in_flight}  {self.current_rate():.1f}/s"
        )

    def line(self) -> str:
        """One plain line, for logs: what a non-terminal stream gets every few seconds."""
        return f"{self.counters()}  {time.monotonic() - self.began:.0f}s"


def _bar(console: Console) -> rich_progress.Progress:
    return rich_progress.Progress(
        rich_progress.BarColumn(),
        rich_progress.TaskProgressColumn(),
        rich_progress.TextColumn("{task.fields[counters]}"),
        rich_progress.TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def render(progress: Progress, stream: TextIO = sys.stderr, every: float = 5.0) -> None:
    """A rich progress bar on a terminal (twice a second); else a plain line every ``every`` s.

    Runs until cancelled; the last state is always written, on either kind of stream.
    """
    console = Console(file=stream)
    if not console.is_terminal:
        try:
            while True:
                await asyncio.sleep(every)
                console.print(progress.line(), highlight=False, soft_wrap=True)
        finally:
            console.print(progress.line(), highlight=False, soft_wrap=True)
    with _bar(console) as bar:
        task = bar.add_task("load", total=progress.total, counters=progress.counters())
        try:
            while True:
                bar.update(task, completed=progress.done, counters=progress.counters())
                await asyncio.sleep(0.5)
        finally:
            bar.update(task, completed=progress.done, counters=progress.counters())
