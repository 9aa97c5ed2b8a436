"""The backfill command end to end: start prints an id, watch ends with the totals."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from batcher_service import errors
from tests.support.backfill_helpers import (
    Backfill,
    check_history_of,
    source_digest,
    table_digest,
)
from tests.support.processes import stop_tree


async def _cli(address: str, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ, TEMPORAL_ADDRESS=address, TEMPORAL_NAMESPACE="default")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "batcher_service",
        "backfill",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        # A timeout (or any failure) leaves nothing of the command running.
        if proc.returncode is None:
            await asyncio.to_thread(stop_tree, proc.pid)
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_start_then_watch_to_completion(
    backfill: Backfill,
) -> None:
    await backfill.tables(3_000)
    address = backfill.client.service_client.config.target_host
    async with backfill.worker() as queue:
        code, out, err = await _cli(
            address,
            "start",
            "--source",
            backfill.source.name,
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
        check_history_of(backfill.client.get_workflow_handle(workflow_id))
        code, out, err = await _cli(address, "watch", workflow_id)
    assert code == 0, err
    assert "rows/s" in out and "done: 3,000 rows read" in out
    assert await table_digest(backfill.pool, "items_copy") == await source_digest(
        backfill.source.url
    )


async def test_start_refuses_a_url_before_it_reaches_history(
    temporal_env: WorkflowEnvironment,
) -> None:
    address = temporal_env.client.service_client.config.target_host
    url = "postgresql://app:s3cret@db.internal:5432/crm"
    args = ("--source", url, "--source-table", "t", "--key", "id", "--target-table", "t")
    code, out, err = await _cli(address, "start", *args, "--id", "backfill-refused-url")
    assert code == 2 and out == ""
    assert errors.BACKFILL_SOURCE_REFUSED in err and "s3cret" not in err
    with pytest.raises(RPCError) as missing:
        await temporal_env.client.get_workflow_handle("backfill-refused-url").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
