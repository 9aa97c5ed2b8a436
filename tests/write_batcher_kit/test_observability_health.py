"""The health server: liveness fails while the loop is blocked; readiness reports each check."""

from __future__ import annotations

import asyncio
import time
import urllib.error

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from batcher_service.postgres.observability import database_ready, register_pool_metrics
from tests.support.promql import exposed_names, http_get
from write_batcher_kit.http_server import HealthServer


async def _failing() -> None:
    raise ConnectionError("temporal frontend unreachable")


async def test_readyz_reports_each_check_and_fails_when_one_fails(db_pool: asyncpg.Pool) -> None:
    registry = CollectorRegistry()
    register_pool_metrics(registry, db_pool)
    checks = {"postgres": database_ready(db_pool), "temporal": _failing}
    server = await HealthServer(registry, checks, port=0, host="127.0.0.1").start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, body = await asyncio.to_thread(http_get, f"{base}/readyz")
        assert status == 503
        assert "postgres: ok" in body
        assert "temporal: ConnectionError: temporal frontend unreachable" in body
        status, text = await asyncio.to_thread(http_get, f"{base}/metrics")
        assert status == 200
        assert "write_batcher_db_pool_connections_in_use" in exposed_names(text)
        assert (await asyncio.to_thread(http_get, f"{base}/nope"))[0] == 404
    finally:
        await server.stop()


async def test_healthz_fails_while_the_event_loop_is_blocked() -> None:
    server = await HealthServer(CollectorRegistry(), {}, port=0, host="127.0.0.1").start()
    url = f"http://127.0.0.1:{server.port}/healthz"
    try:
        assert await asyncio.to_thread(http_get, url) == (200, "ok\n")
        probe = asyncio.get_running_loop().run_in_executor(None, http_get, url, 0.5)
        time.sleep(1.5)  # noqa: ASYNC251 - blocking the loop is the point of this test
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            await probe
        assert await asyncio.to_thread(http_get, url) == (200, "ok\n")
    finally:
        await server.stop()
