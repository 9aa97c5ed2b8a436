"""Look a write up by request id: ``python -m batcher_service requests lookup ID...``.

The batcher's request table is the authority on whether a request was written; a caller that
got ``WriteOutcomeUnknown`` reconciles with it (or with the dead letters, for rejections).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import asyncpg

from batcher_service.names import DEAD_LETTER_TABLE, REQUEST_TABLE
from batcher_service.settings import database_url_from_env
from write_batcher_kit.settings import SettingsError


async def lookup(conn: asyncpg.Connection, request_ids: list[str]) -> list[dict[str, object]]:
    """One answer per id: written (with its batch and table), withdrawn, rejected, or not
    found."""
    written = {
        r["request_id"]: r
        for r in await conn.fetch(
            f"SELECT request_id, table_name, batch_id, outcome, row_key, recorded_at "
            f"FROM {REQUEST_TABLE} WHERE request_id = ANY($1::text[])",
            request_ids,
        )
    }
    rejected = {
        r["request_id"]: r
        for r in await conn.fetch(
            f"SELECT request_id, table_name, batch_id, error_type, error_message, rejected_at "
            f"FROM {DEAD_LETTER_TABLE} WHERE request_id = ANY($1::text[])",
            request_ids,
        )
    }
    answers: list[dict[str, object]] = []
    for rid in request_ids:
        if rid in written:
            # Withdrawn at its caller's deadline: not written, and every copy is refused.
            status = "withdrawn" if written[rid]["outcome"] == "withdrawn" else "written"
            answers.append({"status": status, **dict(written[rid])})
        elif rid in rejected:
            answers.append({"status": "rejected", **dict(rejected[rid])})
        else:
            answers.append({"request_id": rid, "status": "not_found"})
    return answers


async def _main(database_url: str, request_ids: list[str]) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        for answer in await lookup(conn, request_ids):
            print(json.dumps(answer, default=str))
    finally:
        await conn.close()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m batcher_service requests")
    sub = parser.add_subparsers(dest="command", required=True)
    find = sub.add_parser("lookup", help="what happened to these request ids (JSON lines)")
    find.add_argument("request_ids", nargs="+")
    args = parser.parse_args(argv)
    try:
        database_url = database_url_from_env(os.environ)
    except SettingsError as err:
        print(f"requests: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_main(database_url, args.request_ids))
