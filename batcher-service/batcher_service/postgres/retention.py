"""Prunes the batcher's request table past the de-duplication horizon, in small chunks."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from batcher_service.names import REQUEST_TABLE

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 600.0
PRUNE_CHUNK = 10_000

PRUNE_SQL = f"""
DELETE FROM {REQUEST_TABLE} WHERE request_id IN (
    SELECT request_id FROM {REQUEST_TABLE}
    WHERE recorded_at < now() - make_interval(secs => $1::float8) LIMIT {PRUNE_CHUNK}
)
"""


async def prune_once(pool: asyncpg.Pool, retention_hours: float) -> int:
    """Delete what is older than the horizon; returns how many ids went."""
    total = 0
    while True:
        status = await pool.execute(PRUNE_SQL, retention_hours * 3600)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < PRUNE_CHUNK:
            return total


async def prune_forever(pool: asyncpg.Pool, retention_hours: float) -> None:
    """Runs beside the worker; an unreachable database only delays the next round."""
    while True:
        try:
            deleted = await prune_once(pool, retention_hours)
            if deleted:
                log.info("pruned %d request ids older than %gh", deleted, retention_hours)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            log.warning("request table not pruned: %s: %s", type(err).__name__, err)
        await asyncio.sleep(PRUNE_EVERY_SECONDS)
