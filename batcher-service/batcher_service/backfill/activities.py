"""Backfill activities: validate, plan the partitions, copy one partition with heartbeats."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import timedelta

import asyncpg
from temporalio import activity

from batcher_service.backfill.copier import PartitionCopier
from batcher_service.backfill.inspect import connect_source, inspect
from batcher_service.backfill.payloads import (
    BackfillInput,
    BackfillPlan,
    BackfillProgress,
    CopyPartitionInput,
    KeyRange,
    PartitionResult,
    PlanInput,
    SourceSpec,
)
from batcher_service.backfill.sources import BackfillSources
from batcher_service.backfill.sql import quote_ident, quote_qualified, redact_url

log = logging.getLogger(__name__)


def split_evenly(low: int, high: int, parts: int, rows: int) -> list[KeyRange]:
    """``parts`` ranges of equal key width over [low, high]; the last one is unbounded above."""
    parts = max(1, min(parts, high - low + 1))
    width = high - low + 1
    bounds = [low + width * i // parts for i in range(parts + 1)]
    return [
        KeyRange(
            index=i,
            lower_exclusive=None if i == 0 else str(bounds[i] - 1),
            upper_inclusive=None if i == parts - 1 else str(bounds[i + 1] - 1),
            rows_estimate=rows * (bounds[i + 1] - bounds[i]) // width,
        )
        for i in range(parts)
    ]


class BackfillActivities:
    """Backfill activities; they write only through the worker's own pool (DATABASE_URL) and
    read only the named sources the worker was started with (None: no source at all)."""

    def __init__(self, pool: asyncpg.Pool, sources: BackfillSources | None = None) -> None:
        self._pool = pool
        self._sources = sources if sources is not None else BackfillSources()

    @activity.defn(name="backfill_validate")
    async def validate(self, job: BackfillInput) -> SourceSpec:
        """Typed, non-retryable errors for bad input, before any row moves."""
        return await inspect(job, self._sources.resolve(job.source), self._pool)

    @activity.defn(name="backfill_plan")
    async def plan(self, plan: PlanInput) -> BackfillPlan:
        """Key ranges from min/max of an integer key, and a row estimate for progress."""
        job, spec = plan.job, plan.spec
        conn = await connect_source(
            job.source, self._sources.resolve(job.source), non_retryable=False
        )
        try:
            rows = -1
            if job.source_table:
                estimate = await conn.fetchval(
                    "SELECT reltuples::int8 FROM pg_class WHERE oid = to_regclass($1)",
                    quote_qualified(job.source_table),
                )
                rows = -1 if estimate is None else int(estimate)
            if rows <= 0:  # never analysed, or a query: count it
                rows = int(await conn.fetchval(f"SELECT count(*) FROM {spec.from_sql} AS src"))
            if not spec.key_is_integer or job.partitions == 1:
                return BackfillPlan([KeyRange(0, None, None, rows)], rows)
            key = quote_ident(spec.columns[0])
            bounds = await conn.fetchrow(
                f"SELECT min({key})::int8 AS low, max({key})::int8 AS high "
                f"FROM {spec.from_sql} AS src"
            )
        finally:
            await conn.close()
        assert bounds is not None
        if bounds["low"] is None:
            return BackfillPlan([KeyRange(0, None, None, 0)], 0)
        return BackfillPlan(split_evenly(bounds["low"], bounds["high"], job.partitions, rows), rows)

    @activity.defn(name="backfill_copy_partition")
    async def copy_partition(self, job: CopyPartitionInput) -> PartitionResult:
        """Long-running: resumes from the last heartbeat, heartbeats after every batch."""
        info = activity.info()
        rng = job.key_range
        if info.heartbeat_details:
            progress = BackfillProgress.from_details(info.heartbeat_details[0])
        else:
            progress = BackfillProgress(rng.index, rng.lower_exclusive, 0, 0, rng.rows_estimate)
        url = self._sources.resolve(job.source)
        log.info(
            "backfill partition %d from source %r (%s), %s pages, attempt %d, cursor %r, "
            "%d rows done",
            rng.index,
            job.source,
            redact_url(url),
            "binary" if job.spec.binary else "text",
            info.attempt,
            progress.cursor,
            progress.rows_done,
        )
        source = await connect_source(job.source, url, non_retryable=False)
        copier = PartitionCopier(source, self._pool, job, progress, activity.heartbeat)
        keep_alive = asyncio.create_task(_keep_alive(copier, info.heartbeat_timeout))
        try:
            done = await copier.run()
        finally:
            keep_alive.cancel()
            with suppress(asyncio.CancelledError):
                await keep_alive
            with suppress(Exception):
                await asyncio.wait_for(source.close(), 5)
        return PartitionResult(
            rng.index,
            done.rows_done,
            done.rows_inserted,
            done.batches,
            done.cursor,
            done.merged_batches,
        )


async def _keep_alive(copier: PartitionCopier, every: timedelta | None) -> None:
    """A slow batch (a big page, a throttled target) still heartbeats, and so still hears a
    cancellation."""
    seconds = every.total_seconds() if every else 30.0
    while True:
        await asyncio.sleep(max(0.5, seconds / 3))
        activity.heartbeat(copier.progress)
