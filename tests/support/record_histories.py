"""Records real runs' histories into tests/histories: ``python -m tests.support.record_histories``.

Run it after a deliberate change to a workflow; the replay test then proves the current code
still replays what earlier code recorded.
``python -m tests.support.record_histories fixed adaptive`` records only the named scenarios and
keeps the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
from temporalio.client import Client, WorkflowFailureError

from batcher_service.names import SHUTDOWN_SIGNAL
from batcher_service.postgres.migrate import migrate
from batcher_service.postgres.pool import create_pool
from batcher_service.shard.state import BatcherConfig
from devstack.postgres import EmbeddedPostgres
from main_service.names import LEDGER_TABLE
from tests.conftest import start_dev_server
from tests.support.harness import Queues, payment, running_workers
from tests.support.histories_io import HISTORIES, save, save_chain


async def _drain(client: Client, queues: Queues) -> None:
    batcher = client.get_workflow_handle(queues.batcher_id(0))
    await batcher.signal(SHUTDOWN_SIGNAL)
    await asyncio.wait_for(batcher.result(), timeout=120)


async def _fixed(client: Client, pool: asyncpg.Pool) -> None:
    """Fixed batches, a payment refused by the table spec, a typed business failure."""
    queues = Queues.unique()
    # A short run: the chain holds a continue-as-new and a run that begins from carried state.
    config = BatcherConfig(
        mode="fixed", max_batch_size=8, max_wait_seconds=0.3, max_signals_per_run=2
    )
    async with running_workers(client, pool, queues, config, ack_timeout_seconds=20) as h:
        handles = [await h.start_payment(f"rec-fixed-{i}", payment(i)) for i in range(40)]
        bad = await h.start_payment("rec-fixed-memo", payment(98, memo="m" * 201))
        neg = await h.start_payment("rec-fixed-neg", payment(99, amount_cents=-5))
        await asyncio.gather(*(x.result() for x in handles))
        for failing in (bad, neg):
            with contextlib.suppress(WorkflowFailureError):
                await failing.result()
        await _drain(client, queues)
    await save_chain(client, queues.batcher_id(0), "batcher-fixed")
    await save(client, "rec-fixed-0", "payment-written-fixed")
    await save(client, "rec-fixed-memo", "payment-invalid-write")
    await save(client, "rec-fixed-neg", "payment-invalid-payment")


async def _adaptive(client: Client, pool: asyncpg.Pool) -> None:
    """The defaults' path: adaptive pacing, writes coalesced into shared signals."""
    queues = Queues.unique()
    config = BatcherConfig(min_interval_seconds=0.2, max_interval_seconds=1.0, full_load_rate=10)
    async with running_workers(client, pool, queues, config, ack_timeout_seconds=20) as h:
        handles = [await h.start_payment(f"rec-adaptive-{i}", payment(i)) for i in range(60)]
        await asyncio.gather(*(x.result() for x in handles))
        await _drain(client, queues)
    await save_chain(client, queues.batcher_id(0), "batcher-adaptive")
    await save(client, "rec-adaptive-0", "payment-written-adaptive")


async def _withdrawn(client: Client, pool: asyncpg.Pool) -> None:
    """The ledger locked past the deadline: failed flushes, requeue, withdrawals answered at
    once and recorded in the request table once it is free."""
    queues = Queues.unique()
    config = BatcherConfig(flush_timeout_seconds=2.0, min_interval_seconds=0.2)
    async with running_workers(client, pool, queues, config, ack_timeout_seconds=4) as h:
        async with pool.acquire() as lock:
            tx = lock.transaction()
            await tx.start()
            await lock.execute(f"LOCK TABLE {LEDGER_TABLE} IN ACCESS EXCLUSIVE MODE")
            handles = [await h.start_payment(f"rec-withdrawn-{i}", payment(i)) for i in range(5)]
            for handle in handles:
                with contextlib.suppress(WorkflowFailureError):
                    await handle.result()
            await tx.rollback()
        await _drain(client, queues)
    await save_chain(client, queues.batcher_id(0), "batcher-withdrawn")
    await save(client, "rec-withdrawn-0", "payment-withdrawn")


SCENARIOS = ("fixed", "adaptive", "withdrawn")


async def main(only: list[str]) -> int:
    HISTORIES.mkdir(exist_ok=True)
    # A low threshold so the batcher histories include continue-as-new.
    env = await start_dev_server("limit.historyCount.suggestContinueAsNew=40")
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        url = pg.start()
        await migrate(url)
        pool = await create_pool(url, 4)
        try:
            for name in only or SCENARIOS:
                if name == "fixed":
                    await _fixed(env.client, pool)
                elif name == "adaptive":
                    await _adaptive(env.client, pool)
                else:
                    await _withdrawn(env.client, pool)
        finally:
            await pool.close()
            await env.shutdown()
            pg.stop()
    return 0


def record_fault_histories() -> int:
    """The fault tests keep their histories too (kill -9 mid-flush, outages, bursts)."""
    faults = ["tests/faults/test_faults_processes.py", "tests/faults/test_faults_signals.py"]
    env = {**os.environ, "RECORD_HISTORIES": "1"}
    code = subprocess.run([sys.executable, "-m", "pytest", "-q", *faults], env=env, check=False)
    return code.returncode


if __name__ == "__main__":
    names = sys.argv[1:]
    if unknown := set(names) - set(SCENARIOS):
        sys.exit(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    code = asyncio.run(main(names)) or (0 if names else record_fault_histories())
    print(f"histories written to {HISTORIES}")
    sys.exit(code)
