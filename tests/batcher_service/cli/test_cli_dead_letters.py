"""``python -m batcher_service dead-letters list|resubmit`` as processes, against the shipped
worker and PostgreSQL: a row the database rejected is listed, then written once resubmitted."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from tests.support.harness import eventually
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
from write_batcher import WriteResult, errors

# A deployment's own shard ids and count: the command must hand rows to these shards.
DEPLOYMENT = {"BATCHER_ID_PREFIX": "orders-batcher", "BATCHER_SHARDS": "2"}


async def test_dead_letters_are_listed_and_resubmitted_to_their_shard(
    tmp_path: Path, database_url: str
) -> None:
    await create_items(database_url)
    async with dev_server(tmp_path) as server:
        client = await client_for(server)
        env = worker_env(tmp_path, server.address, database_url, **DEPLOYMENT)
        async with batcher_process(tmp_path, env), callers(client) as queue:
            ok = await write_one(client, queue, {"id": "fine", "n": 1})
            bad = await write_one(client, queue, {"id": "neg", "body": "a\u00e9", "n": -5})
            assert isinstance(ok, WriteResult) and bad == errors.WRITE_REJECTED

            code, out, err = await command(env, "dead-letters", "list")
            assert code == 0, err
            [dead] = [json.loads(line) for line in out.splitlines()]
            assert dead["row"] == {"id": "neg", "body": "a\u00e9", "n": -5}
            assert dead["error_type"] == "CheckViolationError"
            assert dead["table_name"] == "items" and dead["resubmitted_at"] is None
            assert dead["caller_workflow_id"].startswith("w-")

            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute("ALTER TABLE items DROP CONSTRAINT items_n_check")
                code, out, err = await command(env, "dead-letters", "resubmit", dead["request_id"])
                assert (code, out.strip()) == (0, "resubmitted 1 of 1"), err
                written = await eventually(
                    lambda: conn.fetchval("SELECT n FROM items WHERE id = 'neg'")
                )
                recorded = await conn.fetchrow(
                    "SELECT batch_id, outcome FROM write_batcher_requests WHERE request_id = $1",
                    dead["request_id"],
                )
                ids = [r["id"] for r in await conn.fetch("SELECT id FROM items ORDER BY id")]
            finally:
                await conn.close()
            code, out, err = await command(env, "dead-letters", "list")
            assert code == 0, err
            [again] = [json.loads(line) for line in out.splitlines()]
            # Unknown ids are counted, and the exit code says not all were found.
            code, out, _ = await command(env, "dead-letters", "resubmit", "no-such-id")
    assert written == -5 and ids == ["fine", "neg"]
    assert recorded is not None and recorded["outcome"] == "written"
    # Written by one of this deployment's shards, not by a stray default-named one.
    assert recorded["batch_id"].split("/")[0] in {"orders-batcher-0", "orders-batcher-1"}
    assert again["resubmitted_at"] is not None
    assert (code, out.strip()) == (1, "resubmitted 0 of 1")
