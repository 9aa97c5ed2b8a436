"""Validation before any row moves: the source, its key and the target table must fit."""

from __future__ import annotations

import logging

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from temporalio.exceptions import ApplicationError

from batcher_service import errors
from batcher_service.backfill.payloads import BackfillInput, SourceSpec
from batcher_service.backfill.sql import quote_ident, quote_qualified, redact_url, source_from

log = logging.getLogger(__name__)

# A plain connection (the source) or one borrowed from the worker's pool (the target).
Conn = asyncpg.Connection | PoolConnectionProxy

_INTEGER_TYPES = {"int2", "int4", "int8"}

# A unique, single-column, non-partial index on the key: PostgreSQL already guarantees it.
_UNIQUE_INDEX_SQL = """
SELECT bool_or(i.indisprimary) AS primary
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnatts = 1
  AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = $2
HAVING count(*) > 0
"""

_TARGET_COLUMNS_SQL = """
SELECT a.attname, t.typname, n.nspname, a.attnotnull, a.atthasdef,
       a.attgenerated <> '' AS generated, a.attidentity <> '' AS identity
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
"""

_IMPLICIT_CAST_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_cast WHERE castsource = to_regtype($1)
               AND casttarget = to_regtype($2) AND castcontext = 'i')
"""


def _fail(kind: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def check_input(job: BackfillInput) -> None:
    if bool(job.source_table) == bool(job.source_query):
        raise _fail(errors.BACKFILL_INVALID_INPUT, "give exactly one of source_table, source_query")
    if job.batch_size < 1 or job.partitions < 1:
        raise _fail(errors.BACKFILL_INVALID_INPUT, "batch_size and partitions must be positive")
    if job.rate_limit is not None and not job.rate_limit > 0:
        raise _fail(errors.BACKFILL_INVALID_INPUT, "rate_limit must be a positive rows/s")


async def connect_source(name: str, url: str, *, non_retryable: bool) -> asyncpg.Connection:
    """One connection to the source. Its failure, which lands in workflow history, names the
    source; only the worker's log shows the URL, redacted."""
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        log.warning("backfill source %r (%s) unreachable: %r", name, redact_url(url), err)
        message = f"source {name!r} is unreachable: {type(err).__name__}: {err}"
        if non_retryable:
            raise ApplicationError(
                message, type=errors.BACKFILL_SOURCE_UNREACHABLE, non_retryable=True
            ) from None
        raise errors.source_unavailable(message) from None
    # COPY takes no parameters: cursors are inlined as literals, quoted for this setting.
    await conn.execute("SET standard_conforming_strings = on")
    return conn


async def _unique_index(conn: Conn, table: str, column: str) -> bool | None:
    """None: no unique index; else whether it is the primary key (which also forbids NULL)."""
    row = await conn.fetchrow(_UNIQUE_INDEX_SQL, quote_qualified(table), column)
    return None if row is None else bool(row["primary"])


async def _check_key(conn: asyncpg.Connection, job: BackfillInput, from_sql: str) -> None:
    key = quote_ident(job.key)
    try:
        await conn.prepare(f"SELECT {key} FROM {from_sql} AS src ORDER BY {key} LIMIT 0")
    except asyncpg.UndefinedFunctionError as err:
        raise _fail(errors.BACKFILL_KEY_NOT_ORDERABLE, f"key {job.key!r}: {err}") from None
    primary = await _unique_index(conn, job.source_table, job.key) if job.source_table else None
    if primary:
        return
    # No primary key to trust: look. Costs a scan, but a duplicate key would lose rows.
    nulls = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {from_sql} AS src WHERE {key} IS NULL)"
    )
    if nulls:
        raise _fail(errors.BACKFILL_KEY_NOT_UNIQUE, f"key {job.key!r} has NULL values")
    if primary is None:
        dup = await conn.fetchval(
            f"SELECT {key}::text FROM {from_sql} AS src GROUP BY {key} HAVING count(*) > 1 LIMIT 1"
        )
        if dup is not None:
            raise _fail(errors.BACKFILL_KEY_NOT_UNIQUE, f"key {job.key!r} repeats, e.g. {dup!r}")


async def _check_target(pool: asyncpg.Pool, job: BackfillInput, columns: dict[str, str]) -> bool:
    """Every source column lands in a same-typed (or implicitly castable) target column;
    True when every one is the same type (binary COPY needs that)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(_TARGET_COLUMNS_SQL, quote_qualified(job.target_table))
        if not rows:
            raise _fail(
                errors.BACKFILL_TARGET_INCOMPATIBLE, f"target table {job.target_table!r} not found"
            )
        target = {r["attname"]: r for r in rows}
        problems = []
        same_types = True
        for name, src_type in columns.items():
            col = target.get(name)
            if col is None or col["generated"]:
                problems.append(f"no writable column {name!r}")
                continue
            dst_type = f"{quote_ident(col['nspname'])}.{quote_ident(col['typname'])}"
            same_types = same_types and dst_type == src_type
            if dst_type != src_type and not await conn.fetchval(
                _IMPLICIT_CAST_SQL, src_type, dst_type
            ):
                problems.append(f"column {name!r} is {dst_type}, the source gives {src_type}")
        for name, col in target.items():
            needs_value = col["attnotnull"] and not (
                col["atthasdef"] or col["generated"] or col["identity"]
            )
            if name not in columns and needs_value:
                problems.append(f"column {name!r} is NOT NULL without a default")
        if await _unique_index(conn, job.target_table, job.key) is None:
            problems.append(f"no unique index on {job.key!r} (idempotent writes need one)")
    if problems:
        raise _fail(
            errors.BACKFILL_TARGET_INCOMPATIBLE,
            f"target {job.target_table!r}: " + "; ".join(problems),
        )
    return same_types


async def inspect(job: BackfillInput, source_url: str, target: asyncpg.Pool) -> SourceSpec:
    """Raise a typed, non-retryable ApplicationError unless the job can run."""
    check_input(job)
    from_sql = source_from(job.source_table, job.source_query)
    conn = await connect_source(job.source, source_url, non_retryable=True)
    try:
        try:
            stmt = await conn.prepare(f"SELECT * FROM {from_sql} AS src LIMIT 0")
        except asyncpg.PostgresError as err:
            what = f"table {job.source_table!r}" if job.source_table else "query"
            raise _fail(
                errors.BACKFILL_SOURCE_NOT_FOUND, f"source {what}: {type(err).__name__}: {err}"
            ) from None
        attrs = {
            a.name: f"{quote_ident(a.type.schema)}.{quote_ident(a.type.name)}"
            for a in stmt.get_attributes()
        }
        if job.key not in attrs:
            raise _fail(errors.BACKFILL_KEY_NOT_FOUND, f"source has no column {job.key!r}")
        await _check_key(conn, job, from_sql)
    finally:
        await conn.close()
    same_types = await _check_target(target, job, attrs)
    key_type = attrs[job.key]
    key_is_integer = key_type in {f'"pg_catalog".{quote_ident(t)}' for t in _INTEGER_TYPES}
    return SourceSpec(
        from_sql=from_sql,
        columns=[job.key, *(c for c in attrs if c != job.key)],
        key_type=key_type,
        key_is_integer=key_is_integer,
        binary=same_types and key_is_integer,
    )
