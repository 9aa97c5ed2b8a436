"""Faults injected into real processes: kill -9 of workers, PostgreSQL and Temporal outages."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client

from devstack.postgres import EmbeddedPostgres
from devstack.stack import Stack
from devstack.temporal_server import TemporalDevServer
from loadtest.verify import verify_writes
from main_service.names import LEDGER_TABLE, MAIN_TASK_QUEUE
from tests.support import faults
from tests.support.faults import collect, record, start_payments
from tests.support.harness import eventually
from tests.support.histories_io import record_if_asked
from write_batcher.contract import batcher_workflow_id
from write_batcher_kit.client import connect

pytestmark = pytest.mark.slow


async def _rows_once_flowing(url: str, total: int) -> int:
    """Waits until writes reach the ledger, and returns how many had: the fault strikes
    while the rest are still in flight (asserted by each test)."""
    conn = await asyncpg.connect(url)
    try:

        async def written() -> int:
            return int(await conn.fetchval(f"SELECT count(*) FROM {LEDGER_TABLE}"))

        rows: int = await eventually(written, within=120)
    finally:
        await conn.close()
    assert rows < total, f"all {total} were written before the fault: nothing was in flight"
    return rows


async def _client(stack: Stack):  # type: ignore[no-untyped-def]
    assert stack.temporal_address is not None
    return await connect({"target_host": stack.temporal_address, "namespace": "default"})


async def _all_written_once(
    client: Client, url: str, ids: list[str], acked: int, fault: str, note: str, history: str
) -> None:
    """After the fault: ``acked`` payments acked, none lost or doubled. The fault table's row
    (``note``, then the acks) comes first, so a failing run is in the table too."""
    outcome = await collect(client, ids)
    check = await verify_writes(url, ids)
    record(fault, len(ids), check, f"{note}{len(outcome.completed)} acked")
    assert (len(outcome.completed), check.lost, check.duplicates) == (acked, 0, 0), outcome
    await record_if_asked(client, history, batcher_workflow_id(0), ids)


async def test_kill_9_batcher_during_flush(tmp_path: Path, database_url: str) -> None:
    with Stack(tmp_path / "s", database_url=database_url) as stack:
        batcher = stack.start_worker("batcher_service", BATCH_MAX_INTERVAL_SECONDS="0.3")
        stack.start_worker("main_service")
        client = await _client(stack)
        lock = await asyncpg.connect(database_url)
        tx = lock.transaction()
        await tx.start()
        await lock.execute(f"LOCK TABLE {LEDGER_TABLE} IN ACCESS EXCLUSIVE MODE")
        ids = await start_payments(client, "kb", 30, MAIN_TASK_QUEUE)
        # Wait until a flush statement is blocked mid-flight, then crash its worker.
        deadline = time.monotonic() + 60
        while not await lock.fetchval(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass",
            LEDGER_TABLE,
        ):
            assert time.monotonic() < deadline, "no flush reached the database"
            await asyncio.sleep(0.2)
        batcher.kill()
        stack.start_worker("batcher_service", BATCH_MAX_INTERVAL_SECONDS="0.3")
        await tx.rollback()
        await lock.close()
        await _all_written_once(
            client, database_url, ids, 30, faults.KILL_BATCHER, "", "kill-batcher"
        )


async def test_kill_9_main_worker_mid_run(tmp_path: Path, database_url: str) -> None:
    with Stack(tmp_path / "s", database_url=database_url) as stack:
        stack.start_worker("batcher_service", BATCH_MAX_INTERVAL_SECONDS="0.3")
        main = stack.start_worker("main_service")
        client = await _client(stack)
        ids = await start_payments(client, "km", 80, MAIN_TASK_QUEUE)
        at_kill = await _rows_once_flowing(database_url, len(ids))
        main.kill()
        stack.start_worker("main_service")
        in_flight = f"killed with {at_kill} written, {len(ids) - at_kill} in flight; "
        await _all_written_once(
            client, database_url, ids, 80, faults.KILL_MAIN, in_flight, "kill-main"
        )


async def test_postgres_down_for_20s_under_load(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    url = pg.start()
    try:
        with Stack(tmp_path / "s", database_url=url) as stack:
            stack.start_worker("batcher_service", BATCH_MAX_INTERVAL_SECONDS="0.3")
            stack.start_worker("main_service")
            client = await _client(stack)
            ids = await start_payments(client, "pg", 40, MAIN_TASK_QUEUE)
            more = asyncio.create_task(start_payments(client, "pg2", 40, MAIN_TASK_QUEUE))
            at_stop = await _rows_once_flowing(url, 80)
            pg.stop()  # writes are flowing: now take the database away
            await asyncio.sleep(20)
            assert pg.start() == url
            ids += await more
            stopped = f"stopped with {at_stop} written; "
            await _all_written_once(client, url, ids, 80, faults.PG_STOPPED, stopped, "pg-down")
    finally:
        pg.stop()


async def test_temporal_restart_under_load(tmp_path: Path, database_url: str) -> None:
    with Stack(tmp_path / "s", database_url=database_url) as stack:
        stack.start_worker("batcher_service", BATCH_MAX_INTERVAL_SECONDS="0.3")
        stack.start_worker("main_service")
        client = await _client(stack)
        ids = await start_payments(client, "tr", 60, MAIN_TASK_QUEUE)
        at_stop = await _rows_once_flowing(database_url, len(ids))
        assert stack.temporal is not None
        port = stack.temporal.port
        stack.temporal.stop()
        await asyncio.sleep(3)
        stack.temporal = TemporalDevServer(
            tmp_path / "s" / "temporal.db", log_path=tmp_path / "t2.log", port=port
        ).start()
        stopped = f"stopped for 3 s with {at_stop} written; "
        await _all_written_once(
            client, database_url, ids, 60, faults.TEMPORAL_RESTART, stopped, "temporal-restart"
        )
