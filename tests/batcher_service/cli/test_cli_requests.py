"""``python -m batcher_service requests lookup ID...`` as a process, against PostgreSQL holding
what a real batcher wrote and rejected: one JSON line per id."""

from __future__ import annotations

import json
import os

import asyncpg
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from tests.support.batcher_support import shard
from tests.support.worker_process import command
from tests.support.writer_tables import create_tables
from write_batcher import WriteResult, errors


async def test_lookup_says_written_by_which_batch_rejected_or_not_found(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, database_url: str
) -> None:
    await create_tables(database_url)
    async with shard(temporal_env.client, db_pool, BatcherConfig()) as s:
        ok = await s.write("accounts", {"account_id": "fine", "balance": 1})
        bad = await s.write("accounts", {"account_id": "neg", "balance": -5})
    assert isinstance(ok, WriteResult) and bad == errors.WRITE_REJECTED
    rejected_id = await db_pool.fetchval("SELECT request_id FROM write_batcher_dead_letters")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}

    code, out, err = await command(
        {**env, "DATABASE_URL": database_url},
        "requests",
        "lookup",
        ok.request_id,
        rejected_id,
        "never-sent",
    )
    assert code == 0, err
    written, refused, unknown = [json.loads(line) for line in out.splitlines()]
    assert written["status"] == "written" and written["request_id"] == ok.request_id
    assert (written["batch_id"], written["table_name"]) == (ok.batch_id, "accounts")
    assert written["outcome"] == "written"
    assert refused["status"] == "rejected" and refused["request_id"] == rejected_id
    assert refused["error_type"] == "CheckViolationError"
    assert unknown == {"request_id": "never-sent", "status": "not_found"}

    # Without a database to ask: one line naming the variable, exit code 2.
    code, out, err = await command(env, "requests", "lookup", ok.request_id)
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [
        "requests: DATABASE_URL is required (e.g. postgresql://user:pass@host/db)"
    ]
