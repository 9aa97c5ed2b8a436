"""PostgreSQL pool creation and the split of asyncpg errors into data and transient ones."""

from __future__ import annotations

import asyncpg

# The row is at fault: bisect the batch and reject only the rows that fail alone.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)


def is_data_error(err: BaseException) -> bool:
    return isinstance(err, DATA_ERRORS)


async def _reset(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset runs a multi-statement query (its own transaction) on every
    # release, doubling the transactions a one-statement flush costs. Nothing here leaves
    # session state behind (no SET, LISTEN or advisory locks; temp tables drop on commit),
    # so only an interrupted transaction needs undoing.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(database_url: str, size: int) -> asyncpg.Pool:
    """A pool for bulk statements; statement cache on, since the same statement repeats.

    min_size=0: the worker starts even while PostgreSQL is down (readiness says so) and its
    flushes retry until the database is back, instead of the process crashing at start.
    """
    pool = await asyncpg.create_pool(
        database_url, min_size=0, max_size=size, command_timeout=60, timeout=10, reset=_reset
    )
    assert pool is not None
    return pool
