"""The backfill command end to end: start prints an id, watch ends with the totals."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
from temporalio.testing import WorkflowEnvironment

from tests.backfill_helpers import (
    backfill_worker,
    make_source,
    make_target,
    source_digest,
    source_url,  # noqa: F401  (fixture)
    table_digest,
)


async def _cli(address: str, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ, TEMPORAL_ADDRESS=address, TEMPORAL_NAMESPACE="default")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "batcher_service.backfill",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_start_then_watch_to_completion(
    temporal_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    source_url: str,  # noqa: F811
) -> None:
    await make_source(source_url, 3_000)
    await make_target(db_pool)
    address = temporal_env.client.service_client.config.target_host
    async with backfill_worker(temporal_env.client, db_pool) as queue:
        code, out, err = await _cli(
            address,
            "start",
            "--source-url",
            source_url,
            "--source-table",
            "items",
            "--key",
            "id",
            "--target-table",
            "items_copy",
            "--batch-size",
            "250",
            "--rate",
            "2000",
            "--partitions",
            "2",
            "--task-queue",
            queue,
        )
        assert code == 0, err
        workflow_id = out.strip()
        assert workflow_id.startswith("backfill-")
        code, out, err = await _cli(address, "watch", workflow_id)
    assert code == 0, err
    assert "rows/s" in out and "done: 3,000 rows read" in out
    assert await table_digest(db_pool, "items_copy") == await source_digest(source_url)
