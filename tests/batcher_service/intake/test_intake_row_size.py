"""MAX_ROW_BYTES in the shipped batcher worker: a row at the limit is written, one byte over is
refused as InvalidWrite by its intake (bytes of the row as JSON, not characters)."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from tests.support.worker_process import (
    batcher_process,
    callers,
    client_for,
    create_items,
    dev_server,
    worker_env,
    write_one,
)
from write_batcher import WriteResult, errors
from write_batcher.contract import WriteOutcome

LIMIT = 200


def _json_bytes(row: dict[str, object]) -> int:
    return len(json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode())


def _row(row_id: str, size: int, char: str = "x") -> dict[str, object]:
    """A row of exactly ``size`` bytes as JSON (``char`` is 1 or 2 bytes in UTF-8)."""
    row: dict[str, object] = {"id": row_id, "body": "", "n": 1}
    room = size - _json_bytes(row)
    width = len(char.encode())
    row["body"] = char * (room // width) + "x" * (room % width)
    assert _json_bytes(row) == size
    return row


async def test_a_row_at_max_row_bytes_is_written_and_one_byte_over_is_invalid(
    tmp_path: Path, database_url: str
) -> None:
    await create_items(database_url)
    at_limit = _row("at-limit", LIMIT)
    over = _row("over", LIMIT + 1)
    # 100 characters, 201 bytes: the limit counts bytes.
    wide = _row("wide", LIMIT + 1, char="\u00e9")
    assert len(str(wide["body"])) < LIMIT
    async with dev_server(tmp_path) as server:
        client = await client_for(server)
        env = worker_env(tmp_path, server.address, database_url, MAX_ROW_BYTES=str(LIMIT))
        async with batcher_process(tmp_path, env) as worker, callers(client) as queue:
            written = await write_one(client, queue, at_limit)
            refused = [await write_one(client, queue, row) for row in (over, wide)]
            assert worker.running(), worker.tail()
    assert isinstance(written, WriteResult) and written.outcome == WriteOutcome.WRITTEN
    assert refused == [errors.INVALID_WRITE, errors.INVALID_WRITE]
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetch("SELECT id, body FROM items")
    finally:
        await conn.close()
    assert [(r["id"], r["body"]) for r in stored] == [("at-limit", at_limit["body"])]
