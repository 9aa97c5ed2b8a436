"""/readyz of the shipped batcher worker on a real outage: PostgreSQL stopped, then the Temporal
dev server stopped; it fails naming what is down while /healthz stays up, and recovers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
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
                up = await _readiness(port, True, RECOVERY_WITHIN)
                assert up == {"temporal": "ok", "postgres": "ok"}, up
                await asyncio.to_thread(pg.stop)
                down = await _readiness(port, False, OUTAGE_WITHIN)
                assert down["temporal"] == "ok" and down["postgres"] != "ok", down
                # Alive all along: an orchestrator must not restart it for the database.
                assert await _probe(port, "/healthz") == (200, "ok\n")
                assert await asyncio.to_thread(pg.start) == url
                back = await _readiness(port, True, RECOVERY_WITHIN)
                assert back == {"temporal": "ok", "postgres": "ok"}, back
                client = await client_for(server)
                async with callers(client) as queue:
                    result = await write_one(client, queue, {"id": "after", "n": 1})
                assert isinstance(result, WriteResult), result
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
            up = await _readiness(port, True, RECOVERY_WITHIN)
            assert up == {"temporal": "ok", "postgres": "ok"}, up
            await asyncio.to_thread(server.stop)
            down = await _readiness(port, False, OUTAGE_WITHIN)
            assert down["postgres"] == "ok" and down["temporal"] != "ok", down
            assert await _probe(port, "/healthz") == (200, "ok\n")
            # The same server back on the same address: the worker reconnects by itself.
            async with dev_server(tmp_path, db_path=db, port=temporal_port) as again:
                back = await _readiness(port, True, RECOVERY_WITHIN)
                assert back == {"temporal": "ok", "postgres": "ok"}, back
                client = await client_for(again)
                async with callers(client) as queue:
                    result = await write_one(client, queue, {"id": "after", "n": 1})
                assert isinstance(result, WriteResult), result
            assert worker.running(), worker.tail()
