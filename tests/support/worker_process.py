"""The shipped batcher worker (``python -m batcher_service``) as a process, on its own dev server.

A process polls the default batcher task queue, so each test gives it a dev server of its own
(nothing else on the session server can meet it). Every process started here is stopped with
its whole process group when its block ends, on every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from devstack.processes import ManagedProcess
from devstack.temporal_server import TemporalDevServer
from tests.support.write_workflows import WriteCall, WriteOne
from write_batcher import WriteBatchingPlugin, WriteResult
from write_batcher_kit.client import connect

# The table the processes' spec names; n >= 0 lets a test have a row rejected by the database.
TABLES_YAML = """tables:
  items:
    mode: insert
    key: [id]
    columns:
      id: {type: text, max_length: 64}
      body: {type: text, nullable: true}
      n: int8
"""
ITEMS_DDL = "CREATE TABLE items (id text PRIMARY KEY, body text, n int8 NOT NULL CHECK (n >= 0))"
# A worker's graceful shutdown is 20 s; past this it is killed with its group.
STOP_SECONDS = 30.0


@asynccontextmanager
async def dev_server(
    tmp: Path, *, db_path: Path | None = None, port: int | None = None
) -> AsyncIterator[TemporalDevServer]:
    """A dev server of this test's own (state in ``db_path`` when given, so it can restart)."""
    server = TemporalDevServer(
        db_path, log_path=tmp / f"temporal-{uuid.uuid4().hex[:6]}.log", port=port
    )
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def client_for(server: TemporalDevServer) -> Client:
    return await connect({"target_host": server.address, "namespace": "default"})


def tables_file(tmp: Path) -> Path:
    path = tmp / "tables.yaml"
    path.write_text(TABLES_YAML)
    return path


async def create_items(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(ITEMS_DDL)
    finally:
        await conn.close()


def worker_env(tmp: Path, address: str, database_url: str, **extra: str) -> dict[str, str]:
    """The environment a deployment gives the batcher worker; ``extra`` overrides it."""
    env = dict(os.environ)
    env.update(
        TEMPORAL_ADDRESS=address,
        TEMPORAL_NAMESPACE="default",
        DATABASE_URL=database_url,
        WRITE_TABLES_FILE=str(tables_file(tmp)),
        METRICS_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@asynccontextmanager
async def batcher_process(
    tmp: Path, env: Mapping[str, str], *args: str
) -> AsyncIterator[ManagedProcess]:
    """``python -m batcher_service [args]`` with ``env``; stopped (group) when the block ends."""
    log = tmp / f"batcher-{uuid.uuid4().hex[:6]}.log"
    proc = ManagedProcess(
        "batcher", [sys.executable, "-m", "batcher_service", *args], env=env, log_path=log
    )
    proc.start()
    try:
        yield proc
    finally:
        await asyncio.to_thread(proc.stop, STOP_SECONDS)


@asynccontextmanager
async def callers(client: Client, **plugin_kwargs: Any) -> AsyncIterator[str]:
    """A caller worker with the plugin (the default batcher queue): its task queue."""
    queue = f"callers-{uuid.uuid4().hex[:8]}"
    plugin = WriteBatchingPlugin(**plugin_kwargs)
    async with Worker(client, task_queue=queue, workflows=[WriteOne], plugins=[plugin]):
        yield queue


async def write_one(
    client: Client, queue: str, row: dict[str, Any], *, workflow_id: str | None = None, **kw: Any
) -> WriteResult | str:
    """The write's result, or the type of the ApplicationError its caller failed with."""
    try:
        result: WriteResult = await client.execute_workflow(
            WriteOne.run,
            WriteCall("items", row, **kw),
            id=workflow_id or f"w-{uuid.uuid4().hex[:12]}",
            task_queue=queue,
        )
    except WorkflowFailureError as err:
        return str(getattr(err.cause, "type", None) or type(err.cause).__name__)
    return result


async def command(env: Mapping[str, str], *args: str, within: float = 60) -> tuple[int, str, str]:
    """``python -m batcher_service ARGS`` to its end: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "batcher_service",
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()
