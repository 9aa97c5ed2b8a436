"""Keeps rows PostgreSQL refused, encoded so that no value a caller can send fails the insert."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

from batcher_service.names import DEAD_LETTER_TABLE
from batcher_service.postgres.pool import is_connection_error
from write_batcher.contract import WriteRequest

log = logging.getLogger(__name__)

STORE_SQL = f"""
INSERT INTO {DEAD_LETTER_TABLE}
    (request_id, table_name, batch_id, caller_workflow_id, partition_key, request, error_type,
     error_message)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[],
                     $7::text[], $8::text[])
ON CONFLICT (request_id) DO UPDATE SET
    table_name = EXCLUDED.table_name, batch_id = EXCLUDED.batch_id,
    request = EXCLUDED.request, error_type = EXCLUDED.error_type,
    error_message = EXCLUDED.error_message, rejected_at = now(), resubmitted_at = NULL
"""


def safe_text(value: str) -> str:
    """Text PostgreSQL accepts: NUL and lone surrogates escaped, everything else verbatim."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def encode_request(request: WriteRequest) -> bytes:
    """JSON with every non-ASCII character escaped: NaN, NUL and surrogates round-trip."""
    return json.dumps(dataclasses.asdict(request), ensure_ascii=True).encode("ascii")


def decode_request(data: bytes) -> WriteRequest:
    return WriteRequest(**json.loads(data))


async def store_dead_letters(
    conn: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record],
    batch_id: str,
    items: list[tuple[WriteRequest, str, str]],
) -> bool:
    """Inside the flush's transaction, under a savepoint: a failure loses no row."""
    try:
        async with conn.transaction():
            await conn.execute(
                STORE_SQL,
                [safe_text(r.request_id) for r, _, _ in items],
                [safe_text(r.table) for r, _, _ in items],
                [batch_id] * len(items),
                [safe_text(r.caller_workflow_id) for r, _, _ in items],
                [safe_text(r.partition_key) for r, _, _ in items],
                [encode_request(r) for r, _, _ in items],
                [safe_text(t) for _, t, _ in items],
                [safe_text(m) for _, _, m in items],
            )
    except Exception as err:
        if is_connection_error(err):
            raise
        # The callers still get their rejection; the lost dead letters are counted.
        log.error(
            "dead-lettering %d rows of %s failed: %s: %s",
            len(items),
            batch_id,
            type(err).__name__,
            err,
        )
        return False
    return True
