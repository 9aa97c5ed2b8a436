"""One partition's copy: keyset pages from the source, each in one idempotent transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal

import asyncpg
from temporalio.exceptions import ApplicationError

from batcher_service import errors
from batcher_service.backfill.inspect import Conn
from batcher_service.backfill.payloads import BackfillProgress, CopyPartitionInput
from batcher_service.backfill.sql import (
    last_key_binary,
    last_key_text,
    page_sql,
    quote_ident,
    quote_qualified,
)

log = logging.getLogger(__name__)

_STAGE = "_backfill_stage"
_CONNECTION_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)
# The rows are at fault: retrying the batch cannot help.
_ROW_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
_KEY_WIDTHS = {f'"pg_catalog"."int{n}"': n for n in (2, 4, 8)}


@dataclass(frozen=True)
class Page:
    """One page as COPY wrote it, with its row count and last key (the next cursor)."""

    data: bytes
    rows: int
    last_key: str | None


def _copied(status: str) -> int:
    """Rows from a command tag such as ``COPY 20000`` or ``INSERT 0 20000``."""
    return int(status.rsplit(" ", 1)[-1])


class PartitionCopier:
    """Copies one key range; ``on_batch`` is told after every committed batch.

    A batch whose key range holds no target row yet is COPYed straight into the target; only
    a batch that finds some (a page re-read after a crash, a concurrent writer) is staged and
    merged with ``ON CONFLICT DO NOTHING``. Either way it commits whole or not at all, so a
    resumed job writes each row once.
    """

    def __init__(
        self,
        source: asyncpg.Connection,
        target: asyncpg.Pool,
        job: CopyPartitionInput,
        progress: BackfillProgress,
        on_batch: Callable[[BackfillProgress], None],
    ) -> None:
        self._source = source
        self._target = target
        self._job = job
        self.progress = progress
        self._on_batch = on_batch
        spec = job.spec
        key_name = spec.columns[0]
        self._format: Literal["binary", "text"] = "binary" if spec.binary else "text"
        # Binary pages carry the key last: its bytes then sit just before the trailer.
        self._columns = [*spec.columns[1:], key_name] if spec.binary else list(spec.columns)
        self._key_width = _KEY_WIDTHS.get(spec.key_type, 0)
        # Split as quote_qualified does: at the first dot.
        first, dot, rest = job.target_table.partition(".")
        self._schema: str | None
        self._table, self._schema = (rest, first) if dot else (first, None)

        cols = ", ".join(quote_ident(c) for c in self._columns)
        table = quote_qualified(job.target_table)
        key = quote_ident(key_name)
        # Keys travel as text, cast to the key's type: one statement for any key type.
        self._clash_first_sql = (
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {key} <= ($1::text)::{spec.key_type})"
        )
        self._clash_after_sql = (
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {key} > ($1::text)::{spec.key_type} "
            f"AND {key} <= ($2::text)::{spec.key_type})"
        )
        self._stage_sql = (
            f"CREATE TEMP TABLE {_STAGE} ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"
        )
        self._merge_sql = (
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {_STAGE} "
            f"ON CONFLICT ({key}) DO NOTHING"
        )

    async def _read(self, cursor: str | None) -> Page:
        spec, job = self._job.spec, self._job
        sql = page_sql(
            spec.from_sql,
            spec.columns[0],
            self._columns,
            spec.key_type,
            cursor=cursor,
            upper=job.key_range.upper_inclusive,
            limit=job.batch_size,
        )
        chunks: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            chunks.append(chunk)

        try:
            status = await self._source.copy_from_query(sql, output=sink, format=self._format)
        except _CONNECTION_ERRORS as err:
            log.warning("backfill source connection lost: %s: %s", type(err).__name__, err)
            raise errors.source_unavailable(
                f"source connection lost: {type(err).__name__}"
            ) from err
        data, rows = b"".join(chunks), _copied(status)
        if rows == 0:
            return Page(b"", 0, None)
        last = last_key_binary(data, self._key_width) if spec.binary else last_key_text(data)
        return Page(data, rows, last)

    async def _clashes(self, conn: Conn, page: Page) -> bool:
        """Whether the target already holds a key of this page's range (one index probe)."""
        cursor = self.progress.cursor
        if cursor is None:
            return bool(await conn.fetchval(self._clash_first_sql, page.last_key))
        return bool(await conn.fetchval(self._clash_after_sql, cursor, page.last_key))

    async def _copy(self, conn: Conn, table: str, schema: str | None, data: bytes) -> str:
        return await conn.copy_to_table(
            table,
            schema_name=schema,
            source=_whole(data),
            columns=self._columns,
            format=self._format,
        )

    async def _write(self, page: Page) -> tuple[int, bool]:
        """Returns the rows inserted and whether the batch was merged.

        The direct COPY runs on its own, outside a transaction block: one statement is its
        own transaction, so it lands whole or not at all, without the round trips of BEGIN,
        a savepoint and COMMIT. A row committed in its range since the probe makes it fail
        whole, and the batch is merged instead.
        """
        try:
            async with self._target.acquire() as conn:
                if not await self._clashes(conn, page):
                    try:
                        status = await self._copy(conn, self._table, self._schema, page.data)
                        return _copied(status), False
                    except asyncpg.UniqueViolationError:
                        log.info("rows arrived in the range up to %r: merging", page.last_key)
                async with conn.transaction():
                    await conn.execute(self._stage_sql)
                    await self._copy(conn, _STAGE, None, page.data)
                    return _copied(await conn.execute(self._merge_sql)), True
        except _ROW_ERRORS as err:
            raise ApplicationError(
                f"target rejected a row after key {self.progress.cursor!r}: "
                f"{type(err).__name__}: {err}",
                type=errors.BACKFILL_BAD_ROW,
                non_retryable=True,
            ) from err
        except _CONNECTION_ERRORS as err:
            raise errors.database_unavailable(
                f"target database unreachable: {type(err).__name__}"
            ) from err

    async def _batch(self, page: Page) -> None:
        inserted, merged = await self._write(page)
        self.progress = replace(
            self.progress,
            cursor=page.last_key,
            rows_done=self.progress.rows_done + page.rows,
            rows_inserted=self.progress.rows_inserted + inserted,
            batches=self.progress.batches + 1,
            merged_batches=self.progress.merged_batches + merged,
        )
        self._on_batch(self.progress)

    async def _pace(self, began: float, rows: int) -> None:
        """Sleep until this run's rows fit the rate limit; cancellation lands here, between
        batches."""
        if self._job.rate_limit:
            due = began + rows / self._job.rate_limit
            await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))

    async def run(self) -> BackfillProgress:
        loop = asyncio.get_running_loop()
        began, rows_this_run = loop.time(), 0
        page = await self._read(self.progress.cursor)
        while page.rows:
            full = page.rows >= self._job.batch_size
            # Read the next page while this one is written: source and target work in parallel.
            prefetch = asyncio.ensure_future(self._read(page.last_key)) if full else None
            try:
                await self._pace(began, rows_this_run)
                await _finish_even_if_cancelled(self._batch(page))
            except BaseException:
                if prefetch is not None:
                    prefetch.cancel()
                raise
            rows_this_run += page.rows
            page = await prefetch if prefetch is not None else Page(b"", 0, None)
        return self.progress


async def _whole(data: bytes) -> AsyncIterator[bytes]:
    """The page in one piece: a file-like source would be read through an executor thread."""
    yield data


async def _finish_even_if_cancelled(work: Awaitable[None]) -> None:
    """A batch in flight when cancellation arrives is completed (committed), then we stop."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
