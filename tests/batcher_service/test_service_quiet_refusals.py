"""Expected refusals in the shipped batcher worker log one line, not a traceback: a database
outage (each failed flush attempt is benign; the shard logs one line per flush that ends
without writing) and a metrics port that another process holds (exit 2, one line)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from devstack.ports import free_port
from tests.support.harness import eventually
from tests.support.worker_process import (
    batcher_process,
    callers,
    client_for,
    command,
    create_items,
    dev_server,
    worker_env,
    write_one,
)

# A port nothing listens on: the database is down for the whole test.
UNREACHABLE = "postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=2"


async def test_a_database_outage_logs_a_line_per_flush_not_a_traceback_per_attempt(
    tmp_path: Path,
) -> None:
    down = UNREACHABLE.format(port=free_port())
    async with dev_server(tmp_path) as server:
        client = await client_for(server)
        env = worker_env(tmp_path, server.address, down, BATCH_FLUSH_TIMEOUT_SECONDS="3")
        async with (
            callers(client, ack_timeout_seconds=30) as queue,
            batcher_process(tmp_path, env) as worker,
        ):
            writing = asyncio.create_task(write_one(client, queue, {"id": "o1", "n": 1}))

            async def flushes_ended() -> bool:
                return worker.log_path.read_text().count("ended without writing") >= 2

            # Two flushes, each retried for 3 s: a dozen failed attempts or more.
            await eventually(flushes_ended, within=90)
            log = worker.log_path.read_text()
            writing.cancel()
    assert "Traceback" not in log, log[-3000:]
    assert "Completing activity as failed" not in log, log[-3000:]
    # Each line says why, however Temporal wrapped the last attempt's error.
    ended = [line for line in log.splitlines() if "ended without writing" in line]
    assert all("DatabaseUnavailable: database unreachable" in line for line in ended), ended


async def test_a_metrics_port_in_use_is_refused_in_one_line(
    tmp_path: Path, database_url: str
) -> None:
    await create_items(database_url)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with dev_server(tmp_path) as server:
            env = worker_env(tmp_path, server.address, database_url, METRICS_PORT=str(port))
            code, out, err = await command(env)
    assert code == 2, (out, err)
    assert f"METRICS_PORT {port} is in use" in err, err
    assert "Traceback" not in err + out, err
