"""Dead letters: ``python -m batcher_service dead-letters list`` and ``resubmit ID...``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import asyncpg
from temporalio.client import Client

from batcher_service.names import DEAD_LETTER_TABLE
from batcher_service.postgres.dead_letter_store import decode_request
from batcher_service.settings import BatcherSettings
from write_batcher._routing import shard_for
from write_batcher.contract import (
    BATCHER_ID_PREFIX,
    BATCHER_TASK_QUEUE,
    batcher_workflow_id,
    signal_shard,
)
from write_batcher_kit.client import connect
from write_batcher_kit.settings import SettingsError


async def list_dead_letters(conn: asyncpg.Connection, limit: int) -> list[dict[str, object]]:
    rows = await conn.fetch(
        f"""SELECT request_id, table_name, caller_workflow_id, error_type, error_message,
                   rejected_at, resubmitted_at, request
            FROM {DEAD_LETTER_TABLE} ORDER BY rejected_at DESC LIMIT $1""",
        limit,
    )
    items = []
    for r in rows:
        item = dict(r)
        # The request as its caller sent it, decoded from the stored bytes.
        item["row"] = decode_request(item.pop("request")).row
        items.append(item)
    return items


async def resubmit(
    conn: asyncpg.Connection,
    client: Client,
    request_ids: list[str],
    shards: int,
    *,
    task_queue: str = BATCHER_TASK_QUEUE,
    id_prefix: str = BATCHER_ID_PREFIX,
) -> int:
    """Hand rejected rows to their batcher again, once their cause has been fixed."""
    rows = await conn.fetch(
        f"SELECT request FROM {DEAD_LETTER_TABLE} WHERE request_id = ANY($1::text[])",
        request_ids,
    )
    for row in rows:
        request = decode_request(row["request"])
        shard = shard_for(request.partition_key, shards)
        await signal_shard(
            client, batcher_workflow_id(shard, id_prefix), [request], task_queue=task_queue
        )
        await conn.execute(
            f"UPDATE {DEAD_LETTER_TABLE} SET resubmitted_at = now() WHERE request_id = $1",
            request.request_id,
        )
    return len(rows)


async def _main(args: argparse.Namespace, settings: BatcherSettings) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        if args.command == "list":
            for item in await list_dead_letters(conn, args.limit):
                print(json.dumps(item, default=str))
            return 0
        client = await connect(settings.common.temporal)
        # The deployment's shards (BATCHER_SHARDS, BATCHER_ID_PREFIX), as its workers route.
        shards = args.shards or settings.intake.shards
        count = await resubmit(
            conn, client, args.request_ids, shards, id_prefix=settings.intake.id_prefix
        )
        print(f"resubmitted {count} of {len(args.request_ids)}")
        return 0 if count == len(args.request_ids) else 1
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m batcher_service dead-letters")
    sub = parser.add_subparsers(dest="command", required=True)
    lister = sub.add_parser("list", help="rejected rows, newest first (JSON lines)")
    lister.add_argument("--limit", type=int, default=100)
    again = sub.add_parser("resubmit", help="send rejected rows to their batcher again")
    again.add_argument("request_ids", nargs="+")
    again.add_argument("--shards", type=int, default=None, help="default: BATCHER_SHARDS")
    args = parser.parse_args(argv)
    try:
        settings = BatcherSettings.from_env(os.environ)
    except SettingsError as err:
        print(f"dead_letters: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_main(args, settings))
