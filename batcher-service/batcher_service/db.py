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


async def create_pool(database_url: str, size: int) -> asyncpg.Pool:
    """A pool for bulk statements; statement cache on, since the same statement repeats.

    min_size=0: the worker starts even while PostgreSQL is down (readiness says so) and its
    flushes retry until the database is back, instead of the process crashing at start.
    """
    pool = await asyncpg.create_pool(
        database_url, min_size=0, max_size=size, command_timeout=60, timeout=10
    )
    assert pool is not None
    return pool
