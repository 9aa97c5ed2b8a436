"""/readyz of the shipped batcher worker on a real outage: PostgreSQL stopped, then the Temporal
dev server stopped; it fails naming what is down while /healthz stays up, and recovers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.temporal_server import TemporalDevServer
from tests.support.harness import eventually
from tests.support.promql import http_get
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
from write_batcher import WriteResult

OUTAGE_WITHIN = 30.0
RECOVERY_WITHIN = 60.0


async def _probe(port: int, path: str) -> tuple[int, str]:
    try:
        return await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}{path}", 5.0)
    except OSError as err:
        return 0, repr(err)


def _verdicts(body: str) -> dict[str, str]:
    """``name: ok`` or ``name: <error>``, one line per check."""
    lines = [line.split(": ", 1) for line in body.splitlines() if ": " in line]
    return {name: verdict for name, verdict in lines}


async def _readiness(port: int, ready: bool, within: float) -> dict[str, str]:
    async def reached() -> dict[str, str] | None:
        status, body = await _probe(port, "/readyz")
        if status == (200 if ready else 503):
            return _verdicts(body) or {"": body}
        return None

    found: dict[str, str] = await eventually(reached, within=within, interval=0.5)
    return found


async def _all_ready(port: int) -> None:
    """Until /readyz answers 200, every check ok."""
    ready = await _readiness(port, True, RECOVERY_WITHIN)
    assert ready == {"temporal": "ok", "postgres": "ok"}, ready


async def _down_naming(port: int, down: str, up: str) -> None:
    """Until /readyz answers 503 with ``down`` failing and ``up`` ok; /healthz stays up: an
    orchestrator must not restart the worker for what it depends on."""
    verdicts = await _readiness(port, False, OUTAGE_WITHIN)
    assert verdicts[up] == "ok" and verdicts[down] != "ok", verdicts
    assert await _probe(port, "/healthz") == (200, "ok\n")


async def _a_write_goes_through(server: TemporalDevServer) -> None:
    client = await client_for(server)
    async with callers(client) as queue:
        result = await write_one(client, queue, {"id": "after", "n": 1})
    assert isinstance(result, WriteResult), result


async def test_readyz_fails_while_postgresql_is_stopped_and_recovers(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    url = await asyncio.to_thread(pg.start)
    try:
        async with dev_server(tmp_path) as server:
            port = free_port()
            env = worker_env(tmp_path, server.address, url, METRICS_PORT=str(port))
            code, _, err = await command(env, "migrate")
            assert code == 0, err
            await create_items(url)
            async with batcher_process(tmp_path, env) as worker:
                await _all_ready(port)
                await asyncio.to_thread(pg.stop)
                await _down_naming(port, "postgres", up="temporal")
                assert await asyncio.to_thread(pg.start) == url
                await _all_ready(port)
                await _a_write_goes_through(server)
                assert worker.running(), worker.tail()
    finally:
        await asyncio.to_thread(pg.stop)


async def test_readyz_fails_while_temporal_is_stopped_and_recovers(
    tmp_path: Path, database_url: str
) -> None:
    await create_items(database_url)
    temporal_port = free_port()
    db = tmp_path / "temporal.db"
    port = free_port()
    async with dev_server(tmp_path, db_path=db, port=temporal_port) as server:
        env = worker_env(tmp_path, server.address, database_url, METRICS_PORT=str(port))
        async with batcher_process(tmp_path, env) as worker:
            await _all_ready(port)
            await asyncio.to_thread(server.stop)
            await _down_naming(port, "temporal", up="postgres")
            # The same server back on the same address: the worker reconnects by itself.
            async with dev_server(tmp_path, db_path=db, port=temporal_port) as again:
                await _all_ready(port)
                await _a_write_goes_through(again)
            assert worker.running(), worker.tail()
