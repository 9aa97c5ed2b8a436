"""Records histories of real runs into tests/histories: ``python -m tests.record_histories``.

Run it after a deliberate, compatible change to a workflow; the replay test then proves the
current code still replays what earlier code recorded. ``python -m tests.record_histories
update`` records only the named scenarios (activity, workflow, adaptive, update) and keeps the
rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError

from batcher_service.db import create_pool
from devstack.postgres import EmbeddedPostgres
from shared.names import SHUTDOWN_SIGNAL
from shared.payloads import BatcherConfig
from tests.conftest import start_dev_server
from tests.harness import Queues, payment, running_workers
from tests.histories_io import HISTORIES, save, save_chain


async def _scenario(client: Client, url: str, transport: str) -> None:
    from batcher_service.migrate import migrate  # noqa: PLC0415

    await migrate(url)
    pool = await create_pool(url, 4)
    queues = Queues.unique()
    config = BatcherConfig(
        mode="fixed", max_batch_size=8, max_wait_seconds=0.3, ack_transport=transport
    )
    try:
        # Callers submit by signal: these scenarios are about how acks reach them.
        async with running_workers(
            client, pool, queues, config, ack_timeout_seconds=20, submit_transport="signal"
        ) as h:
            handles = [await h.start_payment(f"rec-{transport}-{i}", payment(i)) for i in range(40)]
            bad = await h.start_payment(f"rec-{transport}-bad", payment(99, currency="eur"))
            await asyncio.gather(*(x.result() for x in handles))
            with contextlib.suppress(WorkflowFailureError):
                await bad.result()
            batcher = client.get_workflow_handle(queues.batcher_id(0))
            await batcher.signal(SHUTDOWN_SIGNAL)
            await batcher.result()
        await save_chain(client, queues.batcher_id(0), f"batcher-{transport}")
        await save(client, f"rec-{transport}-0", f"payment-written-{transport}")
        await save(client, f"rec-{transport}-bad", f"payment-rejected-{transport}")
    finally:
        await pool.close()


async def _adaptive_scenario(client: Client, url: str, transport: str) -> None:
    """The defaults' path: adaptive pacing, writes coalesced into shared messages."""
    from batcher_service.migrate import migrate  # noqa: PLC0415

    await migrate(url)
    pool = await create_pool(url, 4)
    queues = Queues.unique()
    config = BatcherConfig(min_interval_seconds=0.2, max_interval_seconds=1.0, full_load_rate=10)
    try:
        async with running_workers(
            client,
            pool,
            queues,
            config,
            ack_timeout_seconds=20,
            submit_linger_seconds=0.2,
            submit_transport=transport,
        ) as h:
            name = "adaptive" if transport == "signal" else transport
            handles = [await h.start_payment(f"rec-{name}-{i}", payment(i)) for i in range(60)]
            await asyncio.gather(*(x.result() for x in handles))
            batcher = client.get_workflow_handle(queues.batcher_id(0))
            await batcher.signal(SHUTDOWN_SIGNAL)
            await batcher.result()
        await save_chain(client, queues.batcher_id(0), f"batcher-{name}")
        await save(client, f"rec-{name}-0", f"payment-written-{name}")
    finally:
        await pool.close()


SCENARIOS = ("activity", "workflow", "adaptive", "update")


async def main(only: list[str]) -> int:
    HISTORIES.mkdir(exist_ok=True)
    # A low threshold so the batcher histories include continue-as-new.
    env = await start_dev_server("limit.historyCount.suggestContinueAsNew=40")
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        url = pg.start()
        try:
            for name in only or SCENARIOS:
                if name == "adaptive":
                    await _adaptive_scenario(env.client, url, "signal")
                elif name == "update":
                    await _adaptive_scenario(env.client, url, "update")
                else:
                    await _scenario(env.client, url, name)
        finally:
            await env.shutdown()
            pg.stop()
    return 0


def record_fault_histories() -> int:
    """The fault tests keep their histories too (kill -9 mid-flush, outages, bursts)."""
    faults = ["tests/test_faults_processes.py", "tests/test_faults_signals.py"]
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
