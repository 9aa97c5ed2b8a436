"""The acks a batcher holds until its callers' workers collect them by query."""

from __future__ import annotations

from collections import deque

from batcher_service.shard.carry import SETTLED_BYTES, newest_within
from batcher_service.shard.state import SettledAck
from write_batcher.contract import WriteAck

# A caller worker asks every fraction of a second; a minute covers a worker that restarts.
HOLD_SECONDS = 60.0
MAX_HELD = 50_000
# What continue-as-new carries (one event, beside the pending rows): the latest acks only.
# An ack left behind is not lost: its caller resends and gets ``already_written``.
CARRY_SECONDS = 15.0


class SettledAcks:
    """Deterministic workflow state: request id -> its ack, expiring in workflow time."""

    def __init__(self, carried: list[SettledAck]) -> None:
        self._acks: dict[str, SettledAck] = {}
        self._order: deque[SettledAck] = deque()
        for item in carried:
            self._put(item)

    def __len__(self) -> int:
        return len(self._acks)

    def get(self, request_id: str) -> WriteAck | None:
        item = self._acks.get(request_id)
        return None if item is None else item.ack

    def add(self, ack: WriteAck, now: float) -> None:
        self._put(SettledAck(ack, now))
        self._expire(now)

    def carry(self, now: float) -> list[SettledAck]:
        """The acks settled in the last CARRY_SECONDS, newest first to fit SETTLED_BYTES."""
        recent: list[SettledAck] = []
        for item in reversed(self._order):
            if item.settled_at < now - CARRY_SECONDS:
                break
            if self._acks.get(item.ack.request_id) is item:
                recent.append(item)
        recent.reverse()
        return newest_within(recent, SETTLED_BYTES)

    def _put(self, item: SettledAck) -> None:
        self._acks[item.ack.request_id] = item
        self._order.append(item)

    def _expire(self, now: float) -> None:
        order, acks = self._order, self._acks
        while order and (order[0].settled_at < now - HOLD_SECONDS or len(acks) > MAX_HELD):
            old = order.popleft()
            if acks.get(old.ack.request_id) is old:
                del acks[old.ack.request_id]
        # Entries replaced or forgotten leave stale ones behind: keep the deque bounded too.
        if len(order) > 2 * MAX_HELD:
            self._order = deque(i for i in order if acks.get(i.ack.request_id) is i)
