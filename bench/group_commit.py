"""The peer a Temporal user would pick instead of a batcher workflow: group commit in a worker.

Each write is an ordinary activity on a writer task queue (``python -m bench.group_commit``).
The writer worker joins the write activities it is running at the same moment into one
transaction: the first one waits ``GROUP_COMMIT_LINGER_SECONDS`` (30 ms) for company, then all
that arrived meanwhile are written by ``batcher_service.postgres.writer.BatchWriter`` with
the request table, so outcomes and idempotency are the batcher's (a retried activity gets
``already_written``). No workflow of its own: Temporal sees one activity per write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from batcher_service.postgres.pool import create_pool
from batcher_service.postgres.writer import BatchWriter
from main_service.settings import MainSettings
from write_batcher import load_table_specs
from write_batcher._validation import validate_write
from write_batcher.contract import WriteAck, WriteInput, WriteRequest
from write_batcher.tables import TableSpec
from write_batcher_kit.lifecycle import exit_process
from write_batcher_kit.service import Served, serve, service_main
from write_batcher_kit.telemetry import Telemetry

GROUP_COMMIT_TASK_QUEUE = "write-batching-bench-writer"
GROUP_COMMIT_ACTIVITY = "bench_group_commit_write"
DEFAULT_LINGER_SECONDS = 0.03
MAX_GROUP = 1000
MAX_ROW_BYTES = 16 * 1024


@dataclass
class _Waiting:
    request: WriteRequest
    answer: asyncio.Future[WriteAck]
    since: float = field(default_factory=time.monotonic)


class GroupCommitWriter:
    """One per writer process: one group in flight at a time, the next one gathering."""

    def __init__(
        self,
        writer: BatchWriter,
        tables: dict[str, TableSpec],
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
    ) -> None:
        self._writer = writer
        self._tables = tables
        self._linger = linger_seconds
        self._pending: list[_Waiting] = []
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.groups = 0

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            # The oldest waits at most the linger; a group that was written meanwhile already
            # made the rest wait, so they go as soon as their own linger is over.
            delay = self._pending[0].since + self._linger - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
            if not self._pending:
                self._wake.clear()
            group = [w for w in group if not w.answer.done()]  # cancelled meanwhile
            if not group:
                continue
            self.groups += 1
            try:
                report = await self._writer.write(
                    f"gc-{uuid.uuid4().hex[:12]}", [w.request for w in group]
                )
            except Exception as err:  # the whole group failed: each activity retries
                for w in group:
                    if not w.answer.done():
                        w.answer.set_exception(err)
                continue
            for w in group:
                if not w.answer.done():
                    ack = report.acks.get(w.request.request_id)
                    if ack is None:
                        w.answer.set_exception(RuntimeError("no outcome in the group's report"))
                    else:
                        w.answer.set_result(ack)

    @activity.defn(name=GROUP_COMMIT_ACTIVITY)
    async def write(self, write: WriteInput) -> WriteAck:
        info = activity.info()
        request, _ = validate_write(
            self._tables,
            write,
            max_row_bytes=MAX_ROW_BYTES,
            caller_workflow_id=info.workflow_id or "",
            caller_run_id=info.workflow_run_id,
            caller_activity_id=info.activity_id,
        )
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="group commit")
        waiting = _Waiting(request, asyncio.get_running_loop().create_future())
        self._pending.append(waiting)
        self._wake.set()
        return await waiting.answer

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task


@asynccontextmanager
async def group_commit_worker(
    settings: MainSettings, client: Client, telemetry: Telemetry
) -> AsyncIterator[Served]:
    """The writer worker: the write activity only, as many at once as callers send."""
    pool = await create_pool(os.environ["DATABASE_URL"], 4)
    tables = load_table_specs(os.environ["WRITE_TABLES_FILE"])
    linger = float(os.environ.get("GROUP_COMMIT_LINGER_SECONDS", DEFAULT_LINGER_SECONDS))
    writer = GroupCommitWriter(BatchWriter(pool, tables), dict(tables), linger)
    try:
        worker = Worker(
            client,
            task_queue=GROUP_COMMIT_TASK_QUEUE,
            activities=[writer.write],
            max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        yield Served(worker)
    finally:
        await writer.close()
        await pool.close()


async def run(settings: MainSettings) -> None:
    await serve(settings.common, partial(group_commit_worker, settings), name="group-commit")


if __name__ == "__main__":
    exit_process(service_main("bench-group-commit", MainSettings.from_env, run))
