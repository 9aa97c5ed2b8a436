"""The batcher's request buffer: pending requests in arrival order and the ids it has seen."""

from __future__ import annotations

import json
from collections import deque
from enum import Enum

from shared.payloads import PendingRequest, WriteRequest


class Seen(Enum):
    """What the buffer knows about a request id."""

    NEW = "new"
    HELD = "held"  # pending or in a flush in flight: the original will be acked
    WRITTEN = "written"  # flushed recently (within the dedup window)


class RequestBuffer:
    """Plain, deterministic state of one batcher run; carried through continue-as-new."""

    def __init__(self, pending: list[PendingRequest], recent: list[str], window: int) -> None:
        self._pending: deque[PendingRequest] = deque(pending)
        self._pending_ids = {p.request.request_id for p in pending}
        self.bytes = sum(p.size_bytes for p in pending)
        self._recent: deque[str] = deque(recent)
        self._recent_ids = set(recent)
        self._inflight_ids: set[str] = set()
        self.window = window

    def __len__(self) -> int:
        return len(self._pending)

    def oldest_arrival(self) -> float | None:
        return self._pending[0].arrived_at if self._pending else None

    def seen(self, request_id: str) -> Seen:
        if request_id in self._pending_ids or request_id in self._inflight_ids:
            return Seen.HELD
        if request_id in self._recent_ids:
            return Seen.WRITTEN
        return Seen.NEW

    def add(self, request: WriteRequest, now: float) -> None:
        rid = request.request_id
        # An estimate of the request's share of a flush payload, which must stay far below
        # Temporal's 2 MiB event limit.
        size = len(json.dumps(request.row, separators=(",", ":"))) + len(rid) * 2 + 64
        self._pending.append(PendingRequest(request, now, size))
        self._pending_ids.add(rid)
        self.bytes += size

    def take(self, max_count: int, max_bytes: int) -> list[WriteRequest]:
        """The oldest requests that fit one batch (at least one); they are now in flight."""
        batch: list[WriteRequest] = []
        size = 0
        while self._pending and len(batch) < max_count:
            nxt = self._pending[0]
            if batch and size + nxt.size_bytes > max_bytes:
                break
            self._pending.popleft()
            self._pending_ids.discard(nxt.request.request_id)
            self.bytes -= nxt.size_bytes
            size += nxt.size_bytes
            batch.append(nxt.request)
        self._inflight_ids.update(r.request_id for r in batch)
        return batch

    def settle(self, batch: list[WriteRequest], rejected_ids: list[str]) -> None:
        """A flush returned: remember written ids in the bounded window."""
        rejected = set(rejected_ids)
        for req in batch:
            rid = req.request_id
            self._inflight_ids.discard(rid)
            # A rejected row may be fixed and sent again: do not remember it as written.
            if rid in rejected or rid in self._recent_ids:
                continue
            self._recent.append(rid)
            self._recent_ids.add(rid)
            while len(self._recent) > self.window:
                self._recent_ids.discard(self._recent.popleft())

    def pending(self) -> list[PendingRequest]:
        return list(self._pending)

    def recent(self) -> list[str]:
        return list(self._recent)
