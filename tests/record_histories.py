"""Records histories of real runs into tests/histories: ``python -m tests.record_histories``.

Run it after a deliberate, compatible change to a workflow; the replay test then proves the
current code still replays what earlier code recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
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

HISTORIES = Path(__file__).parent / "histories"


async def _save_chain(client: Client, workflow_id: str, name: str) -> None:
    """Every run of a continue-as-new chain, walking back from the last one."""
    index = 0
    handle = client.get_workflow_handle(workflow_id)
    first = (await handle.describe()).raw_description.workflow_execution_info.first_run_id
    runs = [first]
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=runs[-1]).fetch_history()
        (HISTORIES / f"{name}-run{index}__{workflow_id}.json").write_text(history.to_json())
        last = history.events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            break
        runs.append(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)
        index += 1


async def _save(client: Client, workflow_id: str, name: str) -> None:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / f"{name}__{workflow_id}.json").write_text(history.to_json())


async def _scenario(client: Client, url: str, transport: str) -> None:
    from batcher_service.migrate import migrate  # noqa: PLC0415

    await migrate(url)
    pool = await create_pool(url, 4)
    queues = Queues.unique()
    config = BatcherConfig(max_batch_size=8, max_wait_seconds=0.3, ack_transport=transport)
    try:
        async with running_workers(client, pool, queues, config, ack_timeout_seconds=20) as h:
            handles = [await h.start_payment(f"rec-{transport}-{i}", payment(i)) for i in range(40)]
            bad = await h.start_payment(f"rec-{transport}-bad", payment(99, currency="eur"))
            await asyncio.gather(*(x.result() for x in handles))
            with contextlib.suppress(WorkflowFailureError):
                await bad.result()
            batcher = client.get_workflow_handle(queues.batcher_id(0))
            await batcher.signal(SHUTDOWN_SIGNAL)
            await batcher.result()
        await _save_chain(client, queues.batcher_id(0), f"batcher-{transport}")
        await _save(client, f"rec-{transport}-0", f"payment-written-{transport}")
        await _save(client, f"rec-{transport}-bad", f"payment-rejected-{transport}")
    finally:
        await pool.close()


async def main() -> int:
    HISTORIES.mkdir(exist_ok=True)
    # A low threshold so the batcher histories include continue-as-new.
    env = await start_dev_server("limit.historyCount.suggestContinueAsNew=40")
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        url = pg.start()
        try:
            for transport in ("activity", "workflow"):
                await _scenario(env.client, url, transport)
        finally:
            await env.shutdown()
            pg.stop()
    print(f"histories written to {HISTORIES}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
