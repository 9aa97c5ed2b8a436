"""METRICS_PORT in the shipped batcher worker: a port serves /metrics, /healthz and /readyz;
``0`` turns that server off (the README's "0 disables"), and the worker still works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil  # a dependency of pgserver

from devstack.ports import free_port
from tests.support.harness import eventually
from tests.support.promql import http_get
from tests.support.worker_process import (
    batcher_process,
    callers,
    client_for,
    create_items,
    dev_server,
    worker_env,
    write_one,
)
from write_batcher import WriteResult


def _listening(pid: int) -> set[int]:
    """TCP ports the process (and anything it started) listens on."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {
        c.laddr.port
        for p in procs
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }


async def _ready(port: int) -> bool:
    try:
        status, _ = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz")
    except OSError:
        return False
    return status == 200


async def test_metrics_port_zero_serves_nothing_and_the_worker_still_writes(
    tmp_path: Path, database_url: str
) -> None:
    await create_items(database_url)
    port = free_port()
    async with dev_server(tmp_path) as server:
        client = await client_for(server)
        on = worker_env(tmp_path, server.address, database_url, METRICS_PORT=str(port))
        off = {**on, "METRICS_PORT": "0"}
        async with callers(client) as queue:
            # The contrast first: with a port it serves there, and this test sees it listen.
            async with batcher_process(tmp_path, on) as worker:
                await eventually(lambda: _ready(port), within=60)
                assert worker.pid is not None and port in _listening(worker.pid)
                status, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
                assert status == 200 and "temporal_" in body
            async with batcher_process(tmp_path, off) as worker:
                result = await write_one(client, queue, {"id": "m0", "n": 1})
                assert worker.pid is not None and worker.running(), worker.tail()
                listening = _listening(worker.pid)
    assert isinstance(result, WriteResult) and result.outcome == "written"
    assert listening == set()
