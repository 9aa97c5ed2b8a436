"""PostgreSQL pool creation and the split of errors into connection-class and the rest."""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions as pgx

# The database cannot be used right now, whatever the rows: retried for as long as it lasts.
# Everything else concerns the rows of the statement that raised it.
_CONNECTION_CLASS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    pgx.ConnectionDoesNotExistError,
    pgx.TooManyConnectionsError,  # 53300
    pgx.InsufficientResourcesError,  # 53xxx: disk full, out of memory
    pgx.AdminShutdownError,  # 57P01
    pgx.CrashShutdownError,  # 57P02
    pgx.CannotConnectNowError,  # 57P03: starting up, recovery
    pgx.ReadOnlySQLTransactionError,  # 25006: a standby, or a failover in progress
    pgx.TransactionRollbackError,  # 40xxx: serialization failure, deadlock
    pgx.QueryCanceledError,  # 57014: statement timeout, pg_cancel_backend
)
# SQLSTATE classes that concern the statement, not a row: bisecting cannot single one out.
_STATEMENT_CLASSES = ("42", "0A")


def is_connection_error(err: BaseException) -> bool:
    """True when the database, not the data, is at fault."""
    if isinstance(err, _CONNECTION_CLASS):
        return True
    # asyncpg's client-side encoding errors are InterfaceErrors too, but about the data.
    return isinstance(err, asyncpg.InterfaceError) and not isinstance(err, ValueError)


def concerns_statement(err: BaseException) -> bool:
    """Errors like a missing table or column: every row of the statement shares them."""
    state = getattr(err, "sqlstate", None)
    return isinstance(state, str) and state[:2] in _STATEMENT_CLASSES


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
