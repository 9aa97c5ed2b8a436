"""What a batcher remembers of withdrawn writes and of writes whose commit is in doubt."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

# Withdrawn ids remembered, so a late copy of one is refused, never written.
MAX_WITHDRAWN = 5_000


class Withdrawals:
    """Deterministic workflow state, carried through continue-as-new."""

    def __init__(self, withdrawn: list[str], in_doubt: list[str]) -> None:
        self._withdrawn: deque[str] = deque(withdrawn)
        self._ids = set(withdrawn)
        self._in_doubt = set(in_doubt)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._ids

    def add(self, request_id: str) -> None:
        self._withdrawn.append(request_id)
        self._ids.add(request_id)
        while len(self._withdrawn) > MAX_WITHDRAWN:
            self._ids.discard(self._withdrawn.popleft())
        self._in_doubt.discard(request_id)

    def in_doubt(self, request_id: str) -> bool:
        return request_id in self._in_doubt

    def doubt(self, request_ids: Iterable[str]) -> None:
        self._in_doubt.update(request_ids)

    def settled(self, request_ids: Iterable[str]) -> None:
        self._in_doubt.difference_update(request_ids)

    def withdrawn(self) -> list[str]:
        return list(self._withdrawn)

    def doubted(self, pending: Iterable[str]) -> list[str]:
        """The in-doubt ids still pending: the only ones worth carrying over."""
        return sorted(self._in_doubt.intersection(pending))
