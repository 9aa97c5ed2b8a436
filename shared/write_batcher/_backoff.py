"""The one backoff of the caller library: 1 s, doubling, at most 15 s."""

from __future__ import annotations

from collections.abc import Iterator

FIRST_SECONDS = 1.0
MAX_SECONDS = 15.0


def backoff(first: float = FIRST_SECONDS, cap: float = MAX_SECONDS) -> Iterator[float]:
    """Endless delays in seconds: ``first``, doubling up to ``cap``."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)
