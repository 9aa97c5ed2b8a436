"""One partition's copy: keyset pages from the source, each in one idempotent transaction."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

import asyncpg
from temporalio.exceptions import ApplicationError

from batcher_service.backfill.sql import last_key, page_sql, quote_ident, quote_qualified
from batcher_service.db import DATA_ERRORS
from shared import errors
from shared.backfill_payloads import BackfillProgress, CopyPartitionInput

log = logging.getLogger(__name__)

_STAGE = "_backfill_stage"
_CONNECTION_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


class PartitionCopier:
    """Copies one key range; ``on_batch`` is told after every committed batch."""

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
        cols = ", ".join(quote_ident(c) for c in job.spec.columns)
        table = quote_qualified(job.target_table)
        key = quote_ident(job.spec.columns[0])
        # A temp table per transaction: COPY is the bulk path, the INSERT makes it idempotent.
        self._stage_sql = (
            f"CREATE TEMP TABLE {_STAGE} ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"
        )
        self._insert_sql = (
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {_STAGE} "
            f"ON CONFLICT ({key}) DO NOTHING"
        )

    async def _read(self, cursor: str | None) -> bytes:
        spec, job = self._job.spec, self._job
        sql = page_sql(
            spec.from_sql,
            spec.columns,
            spec.key_type,
            cursor=cursor,
            upper=job.key_range.upper_inclusive,
            limit=job.batch_size,
        )
        chunks: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            chunks.append(chunk)

        try:
            await self._source.copy_from_query(sql, output=sink, format="text")
        except _CONNECTION_ERRORS as err:
            raise ApplicationError(
                f"source connection lost: {type(err).__name__}",
                type=errors.BACKFILL_SOURCE_UNAVAILABLE,
            ) from err
        return b"".join(chunks)

    async def _write(self, page: bytes) -> int:
        """One transaction per batch: it lands whole or not at all, and a retry adds nothing."""
        try:
            async with self._target.acquire() as conn, conn.transaction():
                await conn.execute(self._stage_sql)
                await conn.copy_to_table(
                    _STAGE, source=io.BytesIO(page), columns=self._job.spec.columns, format="text"
                )
                status = await conn.execute(self._insert_sql)
        except DATA_ERRORS as err:
            raise ApplicationError(
                f"target rejected a row after key {self.progress.cursor!r}: "
                f"{type(err).__name__}: {err}",
                type=errors.BACKFILL_BAD_ROW,
                non_retryable=True,
            ) from err
        except _CONNECTION_ERRORS as err:
            raise ApplicationError(
                f"target database unreachable: {type(err).__name__}",
                type=errors.DATABASE_UNAVAILABLE,
            ) from err
        return int(status.rsplit(" ", 1)[-1])

    async def _batch(self, page: bytes) -> None:
        inserted = await self._write(page)
        self.progress = replace(
            self.progress,
            cursor=last_key(page),
            rows_done=self.progress.rows_done + page.count(b"\n"),
            rows_inserted=self.progress.rows_inserted + inserted,
            batches=self.progress.batches + 1,
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
        while page:
            full = page.count(b"\n") >= self._job.batch_size
            # Read the next page while this one is written: source and target work in parallel.
            prefetch = asyncio.ensure_future(self._read(last_key(page))) if full else None
            try:
                await self._pace(began, rows_this_run)
                await _finish_even_if_cancelled(self._batch(page))
            except BaseException:
                if prefetch is not None:
                    prefetch.cancel()
                raise
            rows_this_run += page.count(b"\n")
            page = await prefetch if prefetch is not None else b""
        return self.progress


async def _finish_even_if_cancelled(work: Awaitable[None]) -> None:
    """A batch in flight when cancellation arrives is completed (committed), then we stop."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
