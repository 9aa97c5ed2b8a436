"""Withdrawals in the request table: recorded "withdrawn" unless the request was written first."""

from __future__ import annotations

import asyncpg

from batcher_service.names import REQUEST_TABLE
from batcher_service.shard.state import RequestLookup, WithdrawnRequest
from write_batcher.contract import WriteOutcome

WITHDRAWN = WriteOutcome.WITHDRAWN.value
_OUTCOMES = {o.value: o for o in WriteOutcome}

# Waits for a flush's transaction that inserted the same id (a commit in doubt still being
# settled by the server) and then does nothing: whichever committed first is the outcome.
RECORD_SQL = f"""
INSERT INTO {REQUEST_TABLE} (request_id, table_name, batch_id, outcome)
SELECT request_id, table_name, $3, '{WITHDRAWN}'
FROM unnest($1::text[], $2::text[]) AS t(request_id, table_name)
ON CONFLICT (request_id) DO NOTHING
"""
# A statement of its own (not a CTE of the insert): its snapshot sees a row that a
# concurrent flush committed while the insert waited on it.
LOOKUP_SQL = f"""
SELECT request_id, outcome, batch_id, table_name FROM {REQUEST_TABLE}
WHERE request_id = ANY($1::text[])
"""


async def record_withdrawals(
    pool: asyncpg.Pool, batch_id: str, requests: list[WithdrawnRequest]
) -> list[RequestLookup]:
    """Each id's outcome once recorded: withdrawn (now or before), or what was written.

    Two autocommitted statements: a retry after any failure does the same again, and an id
    once recorded withdrawn stays so (a flush's statement skips ids the table holds).
    """
    ids = [r.request_id for r in requests]
    async with pool.acquire() as conn:
        await conn.execute(RECORD_SQL, ids, [r.table for r in requests], batch_id)
        rows = await conn.fetch(LOOKUP_SQL, ids)
    found = {r["request_id"]: r for r in rows}
    return [
        RequestLookup(rid, _OUTCOMES[r["outcome"]], r["batch_id"], r["table_name"])
        if (r := found.get(rid)) is not None
        else RequestLookup(rid, None)
        for rid in ids
    ]
