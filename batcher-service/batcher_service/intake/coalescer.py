"""Coalesces the writes a batcher worker takes in for one shard into one signal."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from dataclasses import dataclass, field

from temporalio.client import Client

from write_batcher.contract import WriteRequest, signal_shard

# One signal is one history event; stay far below Temporal's 2 MiB payload limit.
MAX_SIGNAL_REQUESTS = 200
MAX_SIGNAL_BYTES = 256 * 1024


@dataclass
class _Waiting:
    request: WriteRequest
    size_bytes: int
    sent: asyncio.Future[None]
    # The submitting activity's context, so the signal's span lands in a caller's trace.
    context: contextvars.Context


@dataclass
class _Shard:
    waiting: deque[_Waiting] = field(default_factory=deque)
    sender: asyncio.Task[None] | None = None
    last_sent: float = float("-inf")


class WriteCoalescer:
    """Signal-with-start for many callers at once.

    A shard's first write after a quiet spell goes out at once; while a signal is in flight,
    or within ``linger_seconds`` of the last one, writes gather and leave together, at most
    MAX_SIGNAL_REQUESTS or MAX_SIGNAL_BYTES per signal. The shard then sees one event (one
    RPC, a share of one workflow task) for many writes, and the signals it takes depend on the
    batcher workers, not on how many caller workers there are. ``send`` returns once the
    signal is accepted; the shard answers each write by completing its caller's activity.

    A failed signal fails every write in it; each caller's activity is retried, and the shard
    drops any copy that arrives twice.
    """

    def __init__(self, client: Client, *, task_queue: str, linger_seconds: float) -> None:
        self.client = client
        self._task_queue = task_queue
        self._linger = linger_seconds
        self._shards: dict[str, _Shard] = {}

    async def send(self, workflow_id: str, request: WriteRequest, size_bytes: int) -> None:
        shard = self._shards.get(workflow_id)
        if shard is None:
            shard = self._shards[workflow_id] = _Shard()
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        shard.waiting.append(_Waiting(request, size_bytes, sent, contextvars.copy_context()))
        if shard.sender is None or shard.sender.done():
            shard.sender = asyncio.create_task(self._drain(workflow_id, shard))
        try:
            # Shielded: a cancelled caller leaves the signal to the others it shares.
            await asyncio.shield(sent)
        except asyncio.CancelledError:
            sent.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    async def _drain(self, workflow_id: str, shard: _Shard) -> None:
        while shard.waiting:
            pause = shard.last_sent + self._linger - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            batch = self.take(shard.waiting)
            shard.last_sent = time.monotonic()
            await asyncio.create_task(self._signal(workflow_id, batch), context=batch[0].context)

    @staticmethod
    def take(waiting: deque[_Waiting]) -> list[_Waiting]:
        """The next signal's writes: a write bigger than the byte bound still goes, alone."""
        batch = [waiting.popleft()]
        size = batch[0].size_bytes
        while waiting and len(batch) < MAX_SIGNAL_REQUESTS:
            if size + waiting[0].size_bytes > MAX_SIGNAL_BYTES:
                break
            size += waiting[0].size_bytes
            batch.append(waiting.popleft())
        return batch

    async def _signal(self, workflow_id: str, batch: list[_Waiting]) -> None:
        try:
            await signal_shard(
                self.client,
                workflow_id,
                [w.request for w in batch],
                task_queue=self._task_queue,
            )
        except Exception as err:
            for waiting in batch:
                if not waiting.sent.done():
                    waiting.sent.set_exception(err)
        else:
            for waiting in batch:
                if not waiting.sent.done():
                    waiting.sent.set_result(None)
