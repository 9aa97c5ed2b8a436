"""The backfill on the batcher worker as shipped (``python -m batcher_service``, its plugins,
StrictInputsPlugin included), started and watched by the ``backfill`` command: rows copied
exactly, no URL in history, and an undecodable job refused at once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from batcher_service.names import BACKFILL_WORKFLOW
from tests.support.backfill_helpers import (
    Source,
    make_source,
    make_target,
    source_digest,
    table_digest,
)
from tests.support.worker_process import (
    batcher_process,
    client_for,
    command,
    create_items,
    dev_server,
    worker_env,
)
from write_batcher import errors
from write_batcher.contract import BATCHER_TASK_QUEUE

ROWS = 2_000


async def test_the_shipped_worker_runs_a_backfill_end_to_end(
    tmp_path: Path,
    database_url: str,
    db_pool: asyncpg.Pool,
    source: Source,
) -> None:
    await make_source(source.url, ROWS)
    await make_target(db_pool)
    await create_items(database_url)
    async with dev_server(tmp_path) as server:
        env = worker_env(
            tmp_path,
            server.address,
            database_url,
            **{f"BACKFILL_SOURCE_{source.name.upper()}": source.url},
        )
        async with batcher_process(tmp_path, env) as worker:
            job = ["--source", source.name, "--source-table", "items", "--key", "id"]
            job += ["--target-table", "items_copy", "--batch-size", "250", "--partitions", "2"]
            code, out, err = await command(env, "backfill", "start", *job)
            assert code == 0, err
            workflow_id = out.strip()
            code, out, err = await command(env, "backfill", "watch", workflow_id, within=120)
            assert code == 0, f"{err}\n{worker.tail()}"
            assert f"done: {ROWS:,} rows read" in out

            client = await client_for(server)
            history = [
                e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()
            ]
            # Strict inputs in this worker: a job it cannot decode fails at once, typed.
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(
                    client.execute_workflow(
                        BACKFILL_WORKFLOW,
                        {
                            "source": source.name,
                            "key": "id",
                            "target_table": "items_copy",
                            "source_table": "items",
                            "batch_size": 12.5,
                        },
                        id=f"bad-backfill-{uuid.uuid4().hex[:6]}",
                        task_queue=BATCHER_TASK_QUEUE,
                    ),
                    timeout=30,
                )
    assert await table_digest(db_pool, "items_copy") == await source_digest(source.url)
    for event in history:
        raw = event.SerializeToString()
        assert source.password.encode() not in raw and b"postgresql://" not in raw, event
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert (cause.type, cause.non_retryable) == (errors.INVALID_INPUT, True)
