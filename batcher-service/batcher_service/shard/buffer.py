"""The batcher's request buffer: pending requests in arrival order and the ids it has seen."""

from __future__ import annotations

from collections import Counter, deque
from enum import Enum

from batcher_service.shard.carry import RECENT_BYTES, newest_within, pending_size
from batcher_service.shard.state import PendingRequest
from write_batcher.contract import WriteRequest


class Seen(Enum):
    """What the buffer knows about a request id."""

    NEW = "new"
    PENDING = "pending"  # buffered, not yet in a flush: may still be withdrawn
    INFLIGHT = "inflight"  # in a flush that has not returned
    WRITTEN = "written"  # flushed recently (within the dedup window)


def request_size(request: WriteRequest) -> int:
    """What the request adds to a carried state (and at least to a flush's input), encoded."""
    return pending_size(request)


class RequestBuffer:
    """Plain, deterministic state of one batcher run; carried through continue-as-new.

    Requests of one partition key are never in two flushes at once: the order in which a
    shard received writes to one key is the order in which the database sees them.
    """

    def __init__(self, pending: list[PendingRequest], recent: list[str], window: int) -> None:
        # Sizes measured again: a state carried by an older version holds estimates.
        self._pending: deque[PendingRequest] = deque(
            PendingRequest(p.request, p.arrived_at, request_size(p.request)) for p in pending
        )
        self._pending_ids = {p.request.request_id for p in pending}
        self.bytes = sum(p.size_bytes for p in self._pending)
        self._recent: deque[str] = deque(recent)
        self._recent_ids = set(recent)
        self._inflight_ids: set[str] = set()
        # Sizes of the requests in flight: a failed flush hands them back to the buffer, so
        # the cap on what a run carries counts them too (``held_bytes``).
        self._inflight_sizes: dict[str, int] = {}
        self.inflight_bytes = 0
        self._inflight_keys: Counter[str] = Counter()
        # Pending requests per partition key, and how many of them wait for a key in flight:
        # whether a flush would find anything is then a comparison, not a scan.
        self._pending_keys: Counter[str] = Counter(p.request.partition_key for p in pending)
        self._blocked = 0
        self.window = window

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def held_bytes(self) -> int:
        """Pending and in-flight requests: what the next run carries if every flush fails."""
        return self.bytes + self.inflight_bytes

    def oldest_arrival(self) -> float | None:
        return self._pending[0].arrived_at if self._pending else None

    def seen(self, request_id: str) -> Seen:
        if request_id in self._pending_ids:
            return Seen.PENDING
        if request_id in self._inflight_ids:
            return Seen.INFLIGHT
        if request_id in self._recent_ids:
            return Seen.WRITTEN
        return Seen.NEW

    def add(self, request: WriteRequest, now: float, size: int | None = None) -> None:
        size = request_size(request) if size is None else size
        self._pending.append(PendingRequest(request, now, size))
        self._pending_ids.add(request.request_id)
        self._count_pending(request.partition_key, 1)
        self.bytes += size

    def _count_pending(self, key: str, delta: int) -> None:
        self._pending_keys[key] += delta
        if self._pending_keys[key] <= 0:
            del self._pending_keys[key]
        if key in self._inflight_keys:
            self._blocked += delta

    def takeable(self) -> bool:
        """Whether a flush started now would hold at least one request."""
        return len(self._pending) > self._blocked

    def take(self, max_count: int, max_bytes: int) -> list[WriteRequest]:
        """The oldest requests that fit one batch; they are now in flight."""
        batch: list[WriteRequest] = []
        kept: deque[PendingRequest] = deque()
        size = 0
        while self._pending and len(batch) < max_count:
            nxt = self._pending.popleft()
            if nxt.request.partition_key in self._inflight_keys:
                kept.append(nxt)  # waits for the flush that holds its key
                continue
            if batch and size + nxt.size_bytes > max_bytes:
                self._pending.appendleft(nxt)
                break
            self._pending_ids.discard(nxt.request.request_id)
            self._count_pending(nxt.request.partition_key, -1)
            self.bytes -= nxt.size_bytes
            size += nxt.size_bytes
            self._inflight_sizes[nxt.request.request_id] = nxt.size_bytes
            self.inflight_bytes += nxt.size_bytes
            batch.append(nxt.request)
        self._pending.extendleft(reversed(kept))
        self._inflight_ids.update(r.request_id for r in batch)
        # Counted only after the batch is chosen: one key may appear in it several times.
        for key in {r.partition_key for r in batch}:
            self._blocked += self._pending_keys.get(key, 0)
        self._inflight_keys.update(r.partition_key for r in batch)
        return batch

    def _release(self, batch: list[WriteRequest]) -> None:
        for req in batch:
            self._inflight_ids.discard(req.request_id)
            self.inflight_bytes -= self._inflight_sizes.pop(req.request_id, 0)
            self._inflight_keys[req.partition_key] -= 1
            if self._inflight_keys[req.partition_key] <= 0:
                del self._inflight_keys[req.partition_key]
                self._blocked -= self._pending_keys.get(req.partition_key, 0)

    def settle(self, batch: list[WriteRequest], rejected_ids: list[str]) -> None:
        """A flush returned: remember written ids in the bounded window."""
        self._release(batch)
        rejected = set(rejected_ids)
        for req in batch:
            rid = req.request_id
            # A rejected row may be fixed and sent again: do not remember it as written.
            if rid in rejected or rid in self._recent_ids:
                continue
            self._recent.append(rid)
            self._recent_ids.add(rid)
            while len(self._recent) > self.window:
                self._recent_ids.discard(self._recent.popleft())

    def requeue(self, batch: list[WriteRequest], now: float) -> None:
        """A flush ended without writing: its requests are pending again, first in line.

        Also a request a withdrawal took out and puts back: it was never in flight.
        """
        self._release([r for r in batch if r.request_id in self._inflight_ids])
        for req in reversed(batch):
            size = request_size(req)
            self._pending.appendleft(PendingRequest(req, now, size))
            self._pending_ids.add(req.request_id)
            self._count_pending(req.partition_key, 1)
            self.bytes += size

    def withdraw(self, request_id: str) -> WriteRequest | None:
        """Take a pending request out of the buffer; None when it is not pending."""
        if request_id not in self._pending_ids:
            return None
        for item in self._pending:
            if item.request.request_id == request_id:
                self._pending.remove(item)
                self._pending_ids.discard(request_id)
                self._count_pending(item.request.partition_key, -1)
                self.bytes -= item.size_bytes
                return item.request
        return None  # pragma: no cover - the id set mirrors the deque

    def pending(self) -> list[PendingRequest]:
        return list(self._pending)

    def recent(self) -> list[str]:
        """The newest written ids that fit the carried state's share (RECENT_BYTES)."""
        return newest_within(list(self._recent), RECENT_BYTES)
