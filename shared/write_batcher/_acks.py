"""Collects the acks of a worker's waiting writes from their shards, by query."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from write_batcher._backoff import backoff
from write_batcher._coalescer import WriteCoalescer
from write_batcher.contract import ACKS_QUERY, AckQuery, AckReport, WriteAck, WriteRequest

# Ids per query: the query and its answer stay far below the 4 MB gRPC message limit.
MAX_IDS_PER_QUERY = 1_000
QUERY_TIMEOUT = timedelta(seconds=10)


@dataclass
class _Wait:
    request: WriteRequest
    size_bytes: int
    ack: asyncio.Future[WriteAck]
    # When to send it (again) if the shard still does not know it: right away at first; after
    # a failed signal soon; after an accepted one only once the shard had time to buffer it.
    send_at: float = 0.0
    sending: bool = False
    sends: int = 0
    users: int = 0
    failed_sends: Iterator[float] = field(default_factory=lambda: backoff(first=0.2, cap=5.0))
    resends: Iterator[float] = field(default_factory=lambda: backoff(first=2.0, cap=15.0))


@dataclass
class _Shard:
    waiting: dict[str, _Wait] = field(default_factory=dict)
    poller: asyncio.Task[None] | None = None


class AckCollector:
    """One per worker: ``write`` sends a request and returns its ack, however long it takes.

    Each shard with writes waiting is asked every ``poll_seconds`` for their acks, in one
    query for all of them (a query adds no event to any history and has no in-flight limit,
    unlike an update per write or a signal per ack to each caller). A write the shard does not
    know (its signal failed, it was refused while the shard was full, or its ack expired
    before it was collected) is sent again, backing off; the shard drops copies it already has.
    Writes of one request id share one wait and one ack.
    """

    def __init__(self, client: Client, coalescer: WriteCoalescer, *, poll_seconds: float) -> None:
        self._client = client
        self._coalescer = coalescer
        self._poll = poll_seconds
        self._shards: dict[str, _Shard] = {}

    async def write(
        self, workflow_id: str, request: WriteRequest, size_bytes: int
    ) -> tuple[WriteAck, int]:
        """The request's ack, and how many times it was sent to get it."""
        shard = self._shards.setdefault(workflow_id, _Shard())
        rid = request.request_id
        wait = shard.waiting.get(rid)
        if wait is None:
            ack: asyncio.Future[WriteAck] = asyncio.get_running_loop().create_future()
            wait = shard.waiting[rid] = _Wait(request, size_bytes, ack)
            self._send(workflow_id, wait)
        wait.users += 1
        if shard.poller is None or shard.poller.done():
            shard.poller = asyncio.create_task(self._poll_forever(workflow_id, shard))
        try:
            # Shielded: one waiter giving up leaves the ack to the others.
            return await asyncio.shield(wait.ack), wait.sends
        finally:
            wait.users -= 1
            if not wait.users and shard.waiting.get(rid) is wait:
                del shard.waiting[rid]

    def _send(self, workflow_id: str, wait: _Wait) -> None:
        wait.sending = True
        wait.sends += 1
        task = asyncio.create_task(self._coalescer.send(workflow_id, wait.request, wait.size_bytes))
        task.add_done_callback(lambda t: self._sent(wait, t))

    @staticmethod
    def _sent(wait: _Wait, task: asyncio.Task[None]) -> None:
        wait.sending = False
        failed = task.cancelled() or task.exception() is not None
        delay = next(wait.failed_sends if failed else wait.resends)
        wait.send_at = time.monotonic() + delay

    async def _poll_forever(self, workflow_id: str, shard: _Shard) -> None:
        while shard.waiting:
            await asyncio.sleep(self._poll)
            waits = [w for w in shard.waiting.values() if not w.ack.done()]
            for start in range(0, len(waits), MAX_IDS_PER_QUERY):
                chunk = waits[start : start + MAX_IDS_PER_QUERY]
                report = await self._ask(workflow_id, [w.request.request_id for w in chunk])
                if report is not None:
                    self._apply(workflow_id, chunk, report)

    async def _ask(self, workflow_id: str, request_ids: list[str]) -> AckReport | None:
        """The shard's answer; an empty one when there is no running shard; None: no answer."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            report: AckReport = await handle.query(
                ACKS_QUERY,
                AckQuery(request_ids),
                result_type=AckReport,
                reject_condition=QueryRejectCondition.NOT_OPEN,
                rpc_timeout=QUERY_TIMEOUT,
            )
            return report
        except WorkflowQueryRejectedError:
            return AckReport()
        except RPCError as err:
            # Anything else (the server's buffered-query limit, a timeout) is asked again.
            return AckReport() if err.status is RPCStatusCode.NOT_FOUND else None
        except Exception:
            return None

    def _apply(self, workflow_id: str, chunk: list[_Wait], report: AckReport) -> None:
        acks = {a.request_id: a for a in report.acks}
        known = set(report.pending)
        now = time.monotonic()
        for wait in chunk:
            rid = wait.request.request_id
            if wait.ack.done():
                continue
            if (ack := acks.get(rid)) is not None:
                wait.ack.set_result(ack)
            elif rid not in known and not wait.sending and now >= wait.send_at:
                self._send(workflow_id, wait)
